"""The audit archive: JSON Lines objects in an S3 bucket (layout and keys: storefront.audit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storefront.audit import ArchiveObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class AuditArchive:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, *objects: ArchiveObject) -> None:
        """Write each object whole. Same key, same records: a redelivery overwrites, never adds."""
        for obj in objects:
            self._client.put_object(
                Bucket=self._bucket,
                Key=obj.key,
                Body=obj.body,
                ContentType="application/x-ndjson",
                ChecksumAlgorithm="SHA256",  # S3 rejects the write if the bytes arrive altered
            )
