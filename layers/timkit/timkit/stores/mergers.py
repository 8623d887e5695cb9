"""Merger storage: the list as gzip JSON in S3, its metadata in DynamoDB (one item per key)."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import boto3
from botocore.exceptions import ClientError

from timkit.stores.dynamo import attrs, plain

# One worker: the S3 write runs beside the DynamoDB write of the same upload.
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="merger-store")
# DynamoDB's BatchGetItem takes at most 100 keys a call.
BATCH_GET_KEYS = 100
# Unprocessed keys are asked for again after 0.1, 0.2, 0.4, 0.8 s (exponential backoff, as
# DynamoDB asks for): 1.5 s at most per 100 keys, well within the merger API's timeout.
BATCH_GET_ATTEMPTS = 5
BATCH_GET_BASE_DELAY = 0.05


@dataclass(frozen=True)
class MergerMeta:
    key: str
    uploader: str
    kind: str  # "c2c" | "group"
    conversation: str
    msg_count: int
    levels: int
    layers_over_limit: bool
    size_bytes: int
    created_at: int
    expires_at: int
    source: str  # "upload" | "callback"

    def to_item(self) -> dict[str, Any]:
        return attrs({"pk": self.key, **{name: v for name, v in self.__dict__.items() if name != "key"}})

    def to_s3_metadata(self) -> dict[str, str]:
        # S3 user metadata is ASCII: IDs are percent-encoded.
        return {name: quote(str(int(v) if isinstance(v, bool) else v), safe="") for name, v in self.__dict__.items()}

    @classmethod
    def from_s3_metadata(cls, metadata: dict[str, str]) -> MergerMeta:
        fields = cls.__dataclass_fields__
        values = {name: unquote(metadata[name]) for name in fields}
        typed: dict[str, Any] = {
            name: (bool(int(raw)) if fields[name].type == "bool" else int(raw) if fields[name].type == "int" else raw)
            for name, raw in values.items()
        }
        return cls(**typed)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> MergerMeta:
        found = plain(item)
        return cls(key=found["pk"], **{n: found[n] for n in cls.__dataclass_fields__ if n != "key"})


class StoreBusy(Exception):
    """DynamoDB would not serve a read now (throttled past the retries): try again later."""


class OpenedMerger:
    """A stored merger's metadata, and its list still unread in the GET's body stream."""

    def __init__(self, meta: MergerMeta, body: Any) -> None:
        self.meta = meta
        self._body = body

    def read(self) -> bytes:
        """The list's JSON, inflated."""
        return gzip.decompress(self._body.read())

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> OpenedMerger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class MergerStore:
    def __init__(
        self,
        bucket: str,
        table: str,
        s3: Any | None = None,
        dynamodb: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bucket = bucket
        self._table = table
        self._s3 = s3 or boto3.client("s3")
        self._dynamodb = dynamodb or boto3.client("dynamodb")
        self._sleep = sleep

    @staticmethod
    def object_key(key: str) -> str:
        return f"mergers/{key}.json.gz"

    def put(self, meta: MergerMeta, document_json: bytes) -> None:
        """Store the list and its metadata (unless the key exists).

        The two writes go out together, halving the upload's latency. Should one fail, the
        caller sees the error and the other is harmless: metadata without its object reads as
        not found (see :meth:`document`), an object without metadata is never served, and both
        expire (TTL, lifecycle).
        """
        packed = gzip.compress(document_json, compresslevel=1)
        item = meta.to_item() | attrs({"stored_bytes": len(packed)})
        # Served as is to a plain GET of a presigned URL: HTTP clients inflate it themselves.
        stored = _POOL.submit(
            self._s3.put_object,
            Bucket=self.bucket,
            Key=self.object_key(meta.key),
            Body=packed,
            ContentType="application/json",
            ContentEncoding="gzip",
            # The access fields travel with the object too, so a download is one S3 GET.
            Metadata=meta.to_s3_metadata(),
        )
        try:
            self._dynamodb.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            pass  # stored before: a repeated capture
        finally:
            stored.result()

    def meta(self, key: str) -> MergerMeta | None:
        item = self._dynamodb.get_item(TableName=self._table, Key=attrs({"pk": key}), ConsistentRead=True).get("Item")
        return MergerMeta.from_item(item) if item else None

    def metas(self, keys: list[str]) -> dict[str, MergerMeta]:
        """The metadata of those of ``keys`` (distinct) that exist, by key: BatchGetItem, 100 keys a
        call, keys DynamoDB leaves unprocessed (throttling) asked for again after a backoff.
        :class:`StoreBusy` if some are still unprocessed after a few tries."""
        found: dict[str, MergerMeta] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            chunk = [attrs({"pk": key}) for key in keys[start : start + BATCH_GET_KEYS]]
            request: dict[str, Any] = {self._table: {"Keys": chunk, "ConsistentRead": True}}
            for attempt in range(BATCH_GET_ATTEMPTS):
                if attempt:
                    self._sleep(BATCH_GET_BASE_DELAY * 2**attempt)
                reply = self._dynamodb.batch_get_item(RequestItems=request)
                for item in reply.get("Responses", {}).get(self._table, []):
                    meta = MergerMeta.from_item(item)
                    found[meta.key] = meta
                request = reply.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise StoreBusy("DynamoDB left merger keys unprocessed; try again")
        return found

    def open(self, key: str) -> OpenedMerger | None:
        """The stored merger with its metadata, its list not yet read (one GET; the metadata comes
        with the object's headers). None when there is no such object (never stored, expired away,
        or an upload that half failed). Close it, read or not."""
        try:
            reply = self._s3.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        try:
            meta = MergerMeta.from_s3_metadata(reply.get("Metadata", {}))
        except (KeyError, ValueError):
            reply["Body"].close()
            return None
        return OpenedMerger(meta, reply["Body"])

    def download_url(self, key: str, expires_in: int) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.object_key(key)}, ExpiresIn=expires_in
        )
