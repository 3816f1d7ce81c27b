"""Cloud Storage object events (Eventarc `google.cloud.storage.object.v1.*`, data = StorageObjectData)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shared.errors import EventParseError
from shared.payloads import _fields
from shared.payloads.cloudevent import EventEnvelope

STORAGE_EVENT_PREFIX = "google.cloud.storage.object.v1."


class StorageChange(StrEnum):
    FINALIZED = "finalized"
    DELETED = "deleted"
    ARCHIVED = "archived"
    METADATA_UPDATED = "metadataUpdated"


@dataclass(frozen=True)
class StorageObjectEvent:
    event_id: str
    change: StorageChange
    event_time: datetime | None
    bucket: str
    name: str
    generation: int
    metageneration: int | None = None
    size: int | None = None
    md5_hash: str | None = None
    crc32c: str | None = None
    content_type: str | None = None
    storage_class: str | None = None
    time_created: datetime | None = None
    updated: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def object_key(self) -> str:
        """The natural idempotency key of one object version: `bucket/name#generation`."""
        return f"{self.bucket}/{self.name}#{self.generation}"


def parse_storage_event(envelope: EventEnvelope) -> StorageObjectEvent:
    if not envelope.type.startswith(STORAGE_EVENT_PREFIX):
        raise EventParseError(f"{envelope.type!r} is not a Cloud Storage object event", field="type")
    try:
        change = StorageChange(envelope.type.removeprefix(STORAGE_EVENT_PREFIX))
    except ValueError:
        raise EventParseError(f"unknown storage event {envelope.type!r}", field="type") from None
    data = _fields.require_mapping(envelope.data, "data")
    bucket = _fields.required_string(data, "bucket", "data.bucket")
    name = _fields.required_string(data, "name", "data.name")
    # GCS: 1-1024 bytes of UTF-8, no CR or LF; other control characters (a NUL made the local store's
    # file lookup raise) are no name a model upload has.
    if len(name.encode("utf-8", "replace")) > 1024 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise EventParseError("is not a valid object name", field="data.name")
    generation = _fields.int64(data, "generation", "data.generation")
    assert generation is not None
    return StorageObjectEvent(
        event_id=envelope.id,
        change=change,
        event_time=envelope.time,
        bucket=bucket,
        name=name,
        generation=generation,
        metageneration=_fields.int64(data, "metageneration", "data.metageneration", required=False),
        size=_fields.int64(data, "size", "data.size", required=False),
        md5_hash=_fields.string(data, "md5Hash", "data.md5Hash", required=False),
        crc32c=_fields.string(data, "crc32c", "data.crc32c", required=False),
        content_type=_fields.string(data, "contentType", "data.contentType", required=False),
        storage_class=_fields.string(data, "storageClass", "data.storageClass", required=False),
        time_created=_fields.timestamp(data, "timeCreated", "data.timeCreated", required=False),
        updated=_fields.timestamp(data, "updated", "data.updated", required=False),
        metadata=_fields.string_map(data, "metadata", "data.metadata", max_bytes=_fields.GCS_METADATA_BYTES),
    )
