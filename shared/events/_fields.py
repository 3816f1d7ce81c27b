"""Field readers shared by the event parsers: each names the field it failed on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.errors import EventParseError

_INT64 = re.compile(r"^-?\d{1,19}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def require_mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise EventParseError(f"expected a JSON object, got {type(value).__name__}", field=field)
    return value


def string(obj: Mapping[str, Any], key: str, field: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise EventParseError("is missing", field=field)
        return None
    if not isinstance(value, str):
        raise EventParseError(f"expected a string, got {type(value).__name__}", field=field)
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


def string_map(obj: Mapping[str, Any], key: str, field: str) -> dict[str, str]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EventParseError(f"expected an object of strings, got {type(value).__name__}", field=field)
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str | int | float | bool) or isinstance(v, bool):
            raise EventParseError(f"entry {k!r:.40} must be a string", field=f"{field}.{k}")
        out[k] = str(v)
    return out
