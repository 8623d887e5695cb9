"""Merger storage: the list as gzip JSON in S3, its metadata in DynamoDB (one item per key)."""

from __future__ import annotations

import gzip
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import boto3
from botocore.exceptions import ClientError

# One worker: the S3 write runs beside the DynamoDB write of the same upload.
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="merger-store")


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
        item: dict[str, Any] = {"pk": {"S": self.key}}
        for name, value in self.__dict__.items():
            if name == "key":
                continue
            if isinstance(value, bool):
                item[name] = {"BOOL": value}
            elif isinstance(value, int):
                item[name] = {"N": str(value)}
            else:
                item[name] = {"S": value}
        return item

    def to_s3_metadata(self) -> dict[str, str]:
        # S3 user metadata is ASCII: IDs are percent-encoded.
        return {name: quote(str(int(v) if isinstance(v, bool) else v), safe="") for name, v in self.__dict__.items()}

    @classmethod
    def from_s3_metadata(cls, metadata: dict[str, str]) -> MergerMeta:
        fields = cls.__dataclass_fields__
        values = {name: unquote(metadata[name]) for name in fields}
        return cls(**{
            name: (bool(int(raw)) if fields[name].type == "bool" else int(raw) if fields[name].type == "int" else raw)
            for name, raw in values.items()
        })

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> MergerMeta:
        def value(name: str) -> Any:
            (kind, raw), = item[name].items()
            return int(raw) if kind == "N" else raw

        names = [n for n in cls.__dataclass_fields__ if n != "key"]
        return cls(key=item["pk"]["S"], **{n: value(n) for n in names})


class MergerStore:
    def __init__(self, bucket: str, table: str, s3: Any | None = None, dynamodb: Any | None = None) -> None:
        self.bucket = bucket
        self._table = table
        self._s3 = s3 or boto3.client("s3")
        self._dynamodb = dynamodb or boto3.client("dynamodb")

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
        item = meta.to_item() | {"stored_bytes": {"N": str(len(packed))}}
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
        item = self._dynamodb.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return MergerMeta.from_item(item) if item else None

    def fetch(self, key: str, inline_max: int) -> tuple[MergerMeta, bytes | None] | None:
        """The merger's metadata and, unless it is larger than ``inline_max``, its document, in
        one GET (the size is known from the metadata before the body is read). None when there is
        no such object (never stored, expired away, or an upload that half failed)."""
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
        if meta.size_bytes > inline_max:
            reply["Body"].close()
            return meta, None
        return meta, gzip.decompress(reply["Body"].read())

    def download_url(self, key: str, expires_in: int) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.object_key(key)}, ExpiresIn=expires_in
        )
