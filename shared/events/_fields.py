"""Field readers shared by the event parsers: each names the field it failed on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.errors import EventParseError

# Size limits: the platforms' own, so that no genuine event is refused and nothing bigger is stored,
# logged or posted. A value over its limit is rejected naming the field (an id or a name cut short
# would be another one).
MAX_TEXT = 1024  # a string field: GCS object names (1024 bytes), Pub/Sub attribute values (1024 bytes)
MAX_ID = 256  # an event or message id: Pub/Sub's and Eventarc's are ~20 characters, EventBridge's 36
MAX_MAP_ENTRIES = 100  # Pub/Sub: at most 100 attributes per message
MAX_MAP_KEY = 256  # Pub/Sub: attribute keys up to 256 bytes
GCS_METADATA_BYTES = 8 * 1024  # GCS: custom metadata, keys and values together, up to 8 KiB

_INT64 = re.compile(r"^-?\d{1,19}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def require_mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise EventParseError(f"expected a JSON object, got {type(value).__name__}", field=field)
    return value


def string(
    obj: Mapping[str, Any], key: str, field: str, *, required: bool = True, max_chars: int | None = MAX_TEXT
) -> str | None:
    """`max_chars=None` for text that is only shown (cut where it is shown, saying so), never a key."""
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise EventParseError("is missing", field=field)
        return None
    if not isinstance(value, str):
        raise EventParseError(f"expected a string, got {type(value).__name__}", field=field)
    if max_chars is not None and len(value) > max_chars:
        raise EventParseError(f"is {len(value)} characters long; at most {max_chars} are accepted", field=field)
    return value


def required_string(obj: Mapping[str, Any], key: str, field: str, *, max_chars: int | None = MAX_TEXT) -> str:
    value = string(obj, key, field, max_chars=max_chars)
    assert value is not None  # required: string() raised instead
    return value


def int64(obj: Mapping[str, Any], key: str, field: str, *, required: bool = True) -> int | None:
    """int64 fields arrive as JSON strings in GCS payloads ("generation": "1700000000000000")."""
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise EventParseError("is missing", field=field)
        return None
    if isinstance(value, bool):
        raise EventParseError("expected an integer, got a boolean", field=field)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT64.match(value.strip()):
        number = int(value.strip())
    else:
        raise EventParseError(f"expected an integer (or its string), got {value!r:.60}", field=field)
    if not -(2**63) <= number < 2**63:
        raise EventParseError("is out of int64 range", field=field)
    if number < 0:
        raise EventParseError("must not be negative", field=field)
    return number


def timestamp(obj: Mapping[str, Any], key: str, field: str, *, required: bool = True) -> datetime | None:
    value = string(obj, key, field, required=required)
    if value is None:
        return None
    if not _RFC3339.match(value):
        raise EventParseError(f"expected an RFC 3339 timestamp, got {value!r:.60}", field=field)
    # Python's fromisoformat takes at most microseconds; GCS and Pub/Sub send up to nanoseconds.
    normalized = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("z", "Z").replace(" ", "T"))
    try:
        parsed = datetime.fromisoformat(normalized.replace("Z", "+00:00"))
    except ValueError as exc:
        raise EventParseError(f"is not a valid timestamp: {exc}", field=field) from None
    return parsed.astimezone(UTC)


def string_map(obj: Mapping[str, Any], key: str, field: str, *, max_bytes: int | None = None) -> dict[str, str]:
    """Pub/Sub attributes, GCS custom metadata (`max_bytes`: its total): string values, within the limits."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EventParseError(f"expected an object of strings, got {type(value).__name__}", field=field)
    if len(value) > MAX_MAP_ENTRIES:
        raise EventParseError(f"has {len(value)} entries; at most {MAX_MAP_ENTRIES} are accepted", field=field)
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str | int | float | bool) or isinstance(v, bool):
            raise EventParseError("must be a string", field=f"{field}.{str(k)[:40]}")
        if len(k) > MAX_MAP_KEY:
            raise EventParseError(f"has a key of {len(k)} characters; at most {MAX_MAP_KEY}", field=field)
        out[k] = string({k: str(v)}, k, f"{field}.{k}", required=False) or ""
    size = sum(len(k.encode("utf-8", "replace")) + len(v.encode("utf-8", "replace")) for k, v in out.items())
    if max_bytes is not None and size > max_bytes:
        raise EventParseError(f"is {size} bytes in all; at most {max_bytes} are accepted", field=field)
    return out
