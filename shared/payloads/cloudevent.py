"""The CloudEvent envelope, independent of how it travelled (structured, binary, legacy background).

functions-framework already turns all three HTTP forms into a `cloudevents.http.CloudEvent`; we
only read its attributes and make the data a JSON object, whatever content type it came with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.errors import EventParseError
from shared.payloads import _fields


@dataclass(frozen=True)
class EventEnvelope:
    id: str
    type: str
    source: str
    subject: str | None
    time: datetime | None
    data: Any


def _decode_data(data: Any) -> Any:
    if isinstance(data, bytes | bytearray):
        if not data:
            return None
        try:
            return json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # nested past the parser's depth: no event of ours
            raise EventParseError("is not valid UTF-8 JSON", field="data") from None
    if isinstance(data, str):
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise EventParseError("is not valid JSON", field="data") from None
    return data


def envelope_from_attributes(attributes: Mapping[str, Any], data: Any) -> EventEnvelope:
    return EventEnvelope(
        id=_fields.required_string(attributes, "id", "id", max_chars=_fields.MAX_ID),
        type=_fields.required_string(attributes, "type", "type"),
        source=_fields.required_string(attributes, "source", "source"),
        # GCS: `objects/<name>`, the name up to 1024 bytes
        subject=_fields.string(attributes, "subject", "subject", required=False, max_chars=2 * _fields.MAX_TEXT),
        time=_fields.timestamp(attributes, "time", "time", required=False),
        data=_decode_data(data),
    )


def envelope_from_cloud_event(event: Any) -> EventEnvelope:
    """Accept a cloudevents SDK event (what functions-framework hands us) or a plain mapping."""
    if hasattr(event, "get_attributes"):
        return envelope_from_attributes(event.get_attributes(), event.get_data())
    if isinstance(event, Mapping):
        attributes = {k: v for k, v in event.items() if k not in {"data", "data_base64"}}
        return envelope_from_attributes(attributes, event.get("data"))
    raise EventParseError(f"expected a CloudEvent, got {type(event).__name__}")
