"""Merger storage: the list as gzip JSON in S3, its metadata in DynamoDB (one item per key)."""

from __future__ import annotations

import gzip
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

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

    def put(self, meta: MergerMeta, document_json: bytes) -> bool:
        """Store the list and its metadata (unless the key exists). True when this call stored it.

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
        )
        try:
            self._dynamodb.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
            created = True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                stored.result()
                raise
            created = False
        stored.result()
        return created

    def meta(self, key: str) -> MergerMeta | None:
        item = self._dynamodb.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return MergerMeta.from_item(item) if item else None

    def document(self, key: str) -> bytes | None:
        """The stored list, or None when its object is not there (an upload that half failed)."""
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchKey":
                return None
            raise
        return gzip.decompress(body)

    def download_url(self, key: str, expires_in: int) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.object_key(key)}, ExpiresIn=expires_in
        )
