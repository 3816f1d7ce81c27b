"""Field readers shared by the event parsers: each names the field it failed on."""

from __future__ import annotations

import math
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

# Patterns are matched whole (fullmatch: `$` would let a trailing newline through) and with ASCII digits
# ([0-9]: `\d` takes Arabic-Indic digits too).
_INT64 = re.compile(r"-?[0-9]{1,19}")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Event times outside these are no event of ours: a year 1 or 9999 overflowed date arithmetic (500s), and a
# far-future time is not to be trusted. Wide enough for any object, budget or schedule there is.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


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
    return bounded_text(value, field, max_chars=max_chars, shown_only=max_chars is None)


def bounded_text(value: str, field: str, *, max_chars: int | None, shown_only: bool) -> str:
    """`value` within `max_chars` (None: any length) and held to the text rule (check_text)."""
    if max_chars is not None and len(value) > max_chars:
        raise EventParseError(f"is {len(value)} characters long; at most {max_chars} are accepted", field=field)
    check_text(value, field, shown_only=shown_only)
    return value


def check_text(value: str, field: str, *, shown_only: bool = False) -> None:
    """Text from outside, held to one rule wherever it is read: valid UTF-8 (a lone surrogate, which JSON can
    carry, failed where it was stored or written), and no control character in anything that names,
    keys or locates (a trailing newline made a second bucket and a folder `fraud-detector\\n`). Text that is
    only shown keeps its line breaks: the Slack layer cleans what it shows."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EventParseError("is not valid UTF-8 text (a lone surrogate)", field=field) from None
    if not shown_only and _CONTROL.search(value):
        raise EventParseError("holds a control character (a line break, a tab, a NUL...)", field=field)


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
    elif isinstance(value, str) and _INT64.fullmatch(value.strip()):
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
    if not _RFC3339.fullmatch(value):
        raise EventParseError(f"expected an RFC 3339 timestamp, got {value!r:.60}", field=field)
    # Python's fromisoformat takes at most microseconds; GCS and Pub/Sub send up to nanoseconds.
    normalized = re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", value.replace("z", "Z").replace(" ", "T"))
    try:
        parsed = datetime.fromisoformat(normalized.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise EventParseError(f"is not a valid timestamp: {exc}", field=field) from None
    if not EARLIEST <= parsed < LATEST:
        raise EventParseError(f"is outside {EARLIEST.year} to {LATEST.year}: no event time", field=field)
    return parsed


def finite_number(value: Any, field: str, *, maximum: float = 1e300, text: bool = True) -> float:
    """A JSON number that is finite, non-negative and at most `maximum`; 10**400 is refused before float()
    overflows, NaN fails the comparison. With `text`, also its string (platforms that send amounts as
    text); without, a string is refused (a request we document as numbers)."""
    kinds = int | float | str if text else int | float
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise EventParseError(f"expected a number, got {type(value).__name__}", field=field)
    if isinstance(value, str):
        try:
            value = float(value) if len(value) <= 400 else math.inf
        except ValueError:
            raise EventParseError(f"expected a number, got {value!r:.40}", field=field) from None
    if not 0 <= value <= maximum:
        raise EventParseError(f"expected a finite number from 0 to {maximum:g}, got {value!r:.40}", field=field)
    return float(value)


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
        where = f"{field}.{str(k)[:40]}"
        # A number is taken as its text (a hand-written metadata value); only one within int64 or finite.
        number = isinstance(v, int | float) and not isinstance(v, bool)
        if number and not (abs(v) < 2**63 and math.isfinite(v)):
            raise EventParseError("must be a string (or a number within int64)", field=where)
        if not isinstance(k, str) or not (isinstance(v, str) or number):
            raise EventParseError("must be a string", field=where)
        if len(k) > MAX_MAP_KEY:
            raise EventParseError(f"has a key of {len(k)} characters; at most {MAX_MAP_KEY}", field=field)
        check_text(k, where)
        # Values are whatever the publisher wrote (UTF-8, within the limit): each reader holds the ones it
        # keys or locates by to the text rule (a budget id), and shows the others cleaned (an account id).
        out[k] = bounded_text(str(v), where, max_chars=MAX_TEXT, shown_only=True)
    size = sum(len(k.encode("utf-8", "replace")) + len(v.encode("utf-8", "replace")) for k, v in out.items())
    if max_bytes is not None and size > max_bytes:
        raise EventParseError(f"is {size} bytes in all; at most {max_bytes} are accepted", field=field)
    return out
