"""firestore_rest's values and field paths, against google-cloud-firestore as the oracle (hypothesis).

The REST client writes Firestore's typed proto3 JSON by hand; the SDK builds the same `Value` protos. Each
property parses our JSON as the server does (json_format.ParseDict into a `Value`) and compares it with the
SDK's encoding of the same Python value, so a shape the server would reject or read differently fails here.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from google.cloud.firestore_v1 import _helpers, field_path
from google.cloud.firestore_v1.types import document
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.firestore_rest import decode_value, encode_value, quote_segment
from shared.adapters.google_rest import parse_rfc3339
from tests.support.firestore_values import same

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# -- strategies ------------------------------------------------------------------------------------
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
zones = st.none() | st.just(UTC) | offsets


def datetimes(min_year: int, max_year: int) -> st.SearchStrategy[datetime]:
    """Naive or aware datetimes whose UTC moment is inside Firestore's range (years 1 to 9999)."""
    low = datetime(min_year, 1, 2) if min_year == 1 else datetime(min_year, 1, 1)
    high = datetime(max_year, 12, 30) if max_year == 9999 else datetime(max_year, 12, 31, 23, 59, 59, 999999)
    return st.datetimes(min_value=low, max_value=high, timezones=zones)


# Years 1000-9999 here: years before 1000 (zero-padded) have their own property below.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.binary()
    | datetimes(1000, 9999)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


# -- oracle helpers --------------------------------------------------------------------------------
def sdk_json(value: Any) -> dict[str, Any]:
    """The SDK's encoding of `value`, as proto3 JSON (integerValue a string, timestampValue RFC 3339)."""
    return MessageToDict(document.Value.pb(_helpers.encode_value(value)))


def as_server_reads(encoded: dict[str, Any]) -> dict[str, Any]:
    """Our JSON as the server reads it: sent as JsonHttp sends it, parsed into a Value, printed canonically."""
    sent = json.loads(json.dumps(encoded, allow_nan=False))
    return MessageToDict(ParseDict(sent, document.Value.pb(document.Value())))


def stored(value: Any) -> Any:
    """What Firestore gives back for `value`: aware UTC datetimes, lists for tuples."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, dict):
        return {k: stored(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [stored(v) for v in value]
    return value


# -- encode_value ----------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(values)
def test_encoding_is_what_the_sdk_sends(value: Any) -> None:
    # GIVEN any storable value (nested maps with arbitrary keys, lists, NaN, -0.0, unicode, bytes, datetimes)
    # WHEN it is encoded as REST JSON and read as the server reads proto3 JSON
    ours = as_server_reads(encode_value(value))

    # THEN it is the same Value the SDK writes for it
    assert same(ours, sdk_json(value)), (ours, sdk_json(value))


@settings(max_examples=400, deadline=None)
@given(values)
def test_encoding_round_trips(value: Any) -> None:
    # GIVEN any storable value WHEN it is encoded, sent as JSON, and decoded
    back = decode_value(json.loads(json.dumps(encode_value(value), allow_nan=False)))

    # THEN it is the value again, datetimes aware in UTC (the same moment)
    assert same(back, stored(value)), (back, value)
    for moment in _datetimes_in(back):
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def _datetimes_in(value: Any) -> list[datetime]:
    if isinstance(value, datetime):
        return [value]
    if isinstance(value, dict):
        return [d for v in value.values() for d in _datetimes_in(v)]
    if isinstance(value, list):
        return [d for v in value for d in _datetimes_in(v)]
    return []


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
def test_naive_datetimes_are_utc_to_the_microsecond(moment: datetime) -> None:
    # GIVEN a naive datetime WHEN it is encoded
    text = encode_value(moment)["timestampValue"]

    # THEN it is that wall time read as UTC, microseconds kept, as the SDK writes it
    ts = Timestamp()
    ts.FromJsonString(text)
    assert ts.ToDatetime(tzinfo=UTC) == moment.replace(tzinfo=UTC)
    assert ts.nanos == moment.microsecond * 1000


@settings(max_examples=50, deadline=None)
@given(datetimes(1, 999))
def test_timestamps_before_year_1000_are_what_the_sdk_sends(moment: datetime) -> None:
    # GIVEN a datetime in years 1-999 (Firestore stores from 0001-01-01) WHEN it is encoded
    ours = as_server_reads(encode_value({"at": moment}))

    # THEN it is a valid RFC 3339 timestamp, the one the SDK sends
    assert ours == sdk_json({"at": moment})


@given(st.integers(min_value=2**63) | st.integers(max_value=-(2**63) - 1))
def test_integers_outside_int64_raise_as_in_the_sdk(number: int) -> None:
    # GIVEN an int Firestore's 64-bit integers cannot hold
    # WHEN either client encodes it THEN both refuse it (ValueError), alone or nested
    with pytest.raises(ValueError):
        _helpers.encode_value(number)
    with pytest.raises(ValueError):
        encode_value(number)
    with pytest.raises(ValueError):
        encode_value({"a": [1, {"b": number}]})


@pytest.mark.parametrize("bound", [INT64_MIN, INT64_MAX])
def test_int64_bounds_are_integers(bound: int) -> None:
    # GIVEN the int64 bounds WHEN encoded THEN they are exact integerValues (strings), as the SDK's
    assert encode_value(bound) == {"integerValue": str(bound)} == sdk_json(bound)


@pytest.mark.parametrize(
    "value",
    [date(2026, 1, 5), Decimal("1.5"), 1j, object(), bytearray(b"x"), {1: "int key"}, {"ok": {"nested": date.today()}}],
    ids=["date", "Decimal", "complex", "object", "bytearray", "int-key", "nested-date"],
)
def test_unsupported_types_raise_as_in_the_sdk(value: Any) -> None:
    # GIVEN a value the SDK cannot store WHEN the REST client encodes it THEN it raises TypeError too
    with pytest.raises(TypeError):
        _helpers.encode_value(value)
    with pytest.raises(TypeError):
        encode_value(value)


@pytest.mark.parametrize("value", [{1, 2}, frozenset({"a"})], ids=["set", "frozenset"])
def test_sets_are_refused_rather_than_stored_in_an_arbitrary_order(value: Any) -> None:
    # GIVEN a set (the SDK stores it as an array in iteration order)
    # WHEN the REST client encodes it THEN it refuses it rather than guess an order
    with pytest.raises(TypeError):
        encode_value(value)


# -- decode_value ----------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(values)
def test_decoding_the_sdks_json_gives_what_the_sdk_decodes(value: Any) -> None:
    # GIVEN a Value as the server prints it (proto3 JSON: empty maps and arrays without their field)
    printed = sdk_json(value)

    # WHEN the REST client decodes it
    ours = decode_value(printed)

    # THEN it is what the SDK decodes from the same proto
    theirs = _helpers.decode_value(document.Value.wrap(ParseDict(printed, document.Value.pb(document.Value()))), None)
    assert same(ours, theirs), (ours, theirs)


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ({"integerValue": 7}, 7),  # proto3 JSON allows a number as well as a string
        ({"doubleValue": 3}, 3.0),
        ({"doubleValue": "-Infinity"}, -math.inf),
        ({"mapValue": {}}, {}),
        ({"arrayValue": {}}, []),
        ({"nullValue": "NULL_VALUE"}, None),
    ],
)
def test_decoding_accepts_every_proto3_json_spelling(printed: dict[str, Any], expected: Any) -> None:
    # GIVEN a value printed in another valid proto3 JSON spelling WHEN decoded THEN it is the same value
    assert same(decode_value(printed), expected)
    assert same(
        decode_value(printed),
        _helpers.decode_value(document.Value.wrap(ParseDict(printed, document.Value.pb(document.Value()))), None),
    )


# -- timestamps ------------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    nanos=st.integers(0, 999_999_999),
    digits=st.sampled_from([0, 3, 6, 9]) | st.integers(1, 9),
    zone=st.sampled_from(["Z", "z"]) | st.integers(-(24 * 60 - 1), 24 * 60 - 1),
)
def test_rfc3339_parsing_matches_protobuf(moment: datetime, nanos: int, digits: int, zone: str | int) -> None:
    # GIVEN an RFC 3339 timestamp with 0-9 fraction digits and Z or any offset
    fraction = f"{nanos:09d}"[:digits]
    if isinstance(zone, int):
        sign = "-" if zone < 0 else "+"
        zone = f"{sign}{abs(zone) // 60:02d}:{abs(zone) % 60:02d}"
    text = moment.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + (f".{fraction}" if digits else "") + zone

    # WHEN the REST client parses it
    ours = parse_rfc3339(text)

    # THEN it is the moment protobuf's Timestamp reads, truncated to the microsecond, aware in UTC
    ts = Timestamp()
    ts.FromJsonString(text.replace("z", "Z"))
    assert ours == ts.ToDatetime(tzinfo=UTC)
    assert ours.tzinfo is not None and ours.utcoffset() == timedelta(0)
    assert ours.microsecond == ts.nanos // 1000


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
def test_rfc3339_parsing_reads_what_the_sdk_prints(moment: datetime) -> None:
    # GIVEN a timestamp as the SDK prints it (no fraction when it is whole seconds)
    text = sdk_json(moment)["timestampValue"]

    # WHEN parsed THEN it is the moment, in UTC
    assert parse_rfc3339(text) == moment.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["2026-01-05", "2026-01-05T12:00:00", "2026-01-05T12:00:00+0100", "2026-01-05T12:00Z", "2026-01-05 12:00:00Z", ""],
)
def test_rfc3339_parsing_refuses_what_is_not_a_timestamp(text: str) -> None:
    # GIVEN text that is not an RFC 3339 timestamp with a zone WHEN parsed THEN it raises ValueError, as protobuf's
    with pytest.raises(ValueError):
        Timestamp().FromJsonString(text)
    with pytest.raises(ValueError):
        parse_rfc3339(text)


# -- field paths -----------------------------------------------------------------------------------
segments = st.text(min_size=1) | st.from_regex(r"[A-Za-z_0-9.\-`\\ ]{1,8}", fullmatch=True)


@settings(max_examples=500, deadline=None)
@given(st.lists(segments, min_size=1, max_size=4))
def test_field_path_quoting_is_the_sdks(parts: list[str]) -> None:
    # GIVEN field names of any text (hex hashes starting with a digit, dots, dashes, backticks, backslashes)
    # WHEN each is quoted as a field path segment and joined
    ours = ".".join(quote_segment(p) for p in parts)

    # THEN it is the path the SDK writes, and it reads back as the same names
    assert ours == field_path.FieldPath(*parts).to_api_repr()
    assert read_field_path(ours) == parts


def read_field_path(path: str) -> list[str]:
    """Firestore's field path grammar: bare identifiers, or backticks with \\ escaping \\ and `.

    (The SDK's own parser cannot be the oracle here: it fails on a backslash-only segment, `\\\\`.)
    """
    token = re.compile(r"([A-Za-z_][A-Za-z_0-9]*|`((?:[^`\\]|\\.)+)`)(\.|\Z)", re.DOTALL)
    names, pos = [], 0
    while pos < len(path):
        match = token.match(path, pos)
        assert match is not None, f"{path!r} does not parse at {pos}"
        bare, quoted = match.group(1), match.group(2)
        names.append(re.sub(r"\\(.)", r"\1", quoted, flags=re.DOTALL) if quoted is not None else bare)
        pos = match.end()
    return names


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("simple_1", "simple_1"),
        ("_x", "_x"),
        ("0abc", "`0abc`"),
        ("a.b", "`a.b`"),
        ("a-b", "`a-b`"),
        ("é", "`é`"),
        ("a`b", "`a\\`b`"),
        ("a\\b", "`a\\\\b`"),
        ("x\n", "`x\n`"),
    ],
)
def test_field_path_quoting_examples(name: str, quoted: str) -> None:
    # GIVEN a field name WHEN quoted THEN only plain identifiers are left bare, as in the SDK
    assert quote_segment(name) == quoted == field_path.FieldPath(name).to_api_repr()
