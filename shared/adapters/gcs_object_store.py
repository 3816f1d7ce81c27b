"""ObjectStore on Google Cloud Storage (emulators profile: fake-gcs-server via STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from shared.adapters.gcp_errors import translate_errors
from shared.ports import StoredObject

if TYPE_CHECKING:
    from google.cloud import storage  # type: ignore[attr-defined]  # untyped, in a typed namespace


def _stored(blob: Any) -> StoredObject:
    return StoredObject(
        bucket=blob.bucket.name,
        name=blob.name,
        generation=int(blob.generation),
        size=int(blob.size or 0),
        md5_hash=blob.md5_hash,
        crc32c=blob.crc32c,
        content_type=blob.content_type,
        metageneration=int(blob.metageneration) if blob.metageneration is not None else None,
        time_created=blob.time_created,
        updated=blob.updated,
        metadata=dict(blob.metadata or {}),
    )


DEFAULT_TIMEOUT_S = 30.0


class GcsObjectStore:
    def __init__(self, client: storage.Client, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._client = client
        self._timeout_s = timeout_s

    def _calls(self) -> dict[str, Any]:
        """Per-call timeout and retry: the SDK's default retry loop may run 120 s, longer than a function has."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        return {"timeout": self._timeout_s, "retry": DEFAULT_RETRY.with_deadline(self._timeout_s)}

    def read_head(self, bucket: str, name: str, generation: int | None, length: int) -> bytes | None:
        """A ranged read pinned to the event's generation: a newer upload must not be judged in its place."""
        from google.api_core.exceptions import NotFound, RequestRangeNotSatisfiable

        if length <= 0:
            return b""
        blob = self._client.bucket(bucket).blob(name, generation=generation)
        with translate_errors(f"read gs://{bucket}/{name}#{generation}"):
            try:
                return blob.download_as_bytes(start=0, end=length - 1, checksum=None, **self._calls())
            except NotFound:  # overwritten or deleted since the event: that generation is gone
                return None
            except RequestRangeNotSatisfiable:  # GCS answers a range on a zero-byte object with 416
                return b""

    def read_range(self, bucket: str, name: str, generation: int | None, start: int, length: int) -> bytes | None:
        """A ranged read pinned to the generation; a range past the end is empty (GCS answers it 416)."""
        from google.api_core.exceptions import NotFound, RequestRangeNotSatisfiable

        if length <= 0 or start < 0:
            return b""
        blob = self._client.bucket(bucket).blob(name, generation=generation)
        with translate_errors(f"read gs://{bucket}/{name}#{generation} from {start}"):
            try:
                return blob.download_as_bytes(start=start, end=start + length - 1, checksum=None, **self._calls())
            except NotFound:
                return None
            except RequestRangeNotSatisfiable:
                return b""

    def read(self, bucket: str, name: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        with translate_errors(f"read gs://{bucket}/{name}"):
            try:
                return self._client.bucket(bucket).blob(name).download_as_bytes(**self._calls())
            except NotFound:
                return None

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[StoredObject]:
        from google.api_core.exceptions import NotFound

        with translate_errors(f"list gs://{bucket}/{prefix}"):
            try:
                for blob in self._client.list_blobs(bucket, prefix=prefix or None, **self._calls()):
                    yield _stored(blob)
            except NotFound:  # a missing bucket lists as empty, as the local store does
                return

    def list_buckets(self) -> list[str]:
        with translate_errors("list buckets"):
            return sorted(b.name for b in self._client.list_buckets(**self._calls()))

    def put(
        self,
        bucket: str,
        name: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> StoredObject:
        blob = self._client.bucket(bucket).blob(name)
        if metadata:
            blob.metadata = dict(metadata)
        with translate_errors(f"write gs://{bucket}/{name}"):
            blob.upload_from_string(data, content_type=content_type or "application/octet-stream", **self._calls())
            # The upload's response describes the generation we wrote; a reload by name could race a
            # concurrent overwrite and describe someone else's.
            return _stored(blob)
