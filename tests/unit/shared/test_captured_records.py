"""Captured records held as columns read back as the records they were, split by env, model and day as a
per-record grouping splits them, and become the Parquet file their values say, whatever their features:
checked against the records themselves and against pyarrow's reading of the file."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.adapters.parquet_prediction_sink import parquet_bytes
from shared.captured_records import CapturedChunk, CapturedRecords, Packed, _arrow

NUMBER = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.integers(-100, 100))
TEXT = st.one_of(st.none(), st.text(max_size=5))
# each feature of one kind, as a model's are; `row`, `label`: names of the record's own fields
KINDS = {"amount": NUMBER, "country": TEXT, "hour": NUMBER, "row": NUMBER, "label": TEXT, "ü": NUMBER}
FEATURES = st.lists(st.sampled_from(sorted(KINDS)), unique=True, max_size=4).flatmap(
    lambda names: st.fixed_dictionaries({name: KINDS[name] for name in names})
)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30))])
TIMES = st.builds(
    lambda minutes, zone: (datetime(2026, 12, 5, 22, 0, tzinfo=UTC) + timedelta(minutes=minutes)).astimezone(zone),
    st.integers(0, 180),
    ZONES,
)


def record(request_id, row, at, model, env, features, prediction):
    return {
        "request_id": request_id,
        "row": row,
        "served_at": at,
        "model": model,
        "version": 1 if model == "a" else 7,
        "env": env,
        "kind": "tabular",
        "prediction": prediction,
        "label": None if prediction is None else "1" if prediction >= 0.5 else "0",
        "confidence": None if prediction is None else max(prediction, 1 - prediction),
        "features": features,
    }


# a forward pass: one time, model and env, rows whose features are one model's (same keys) or not
PASSES = st.lists(
    st.tuples(
        TIMES,
        st.sampled_from(["a", "b"]),
        st.sampled_from(["dev", "prod"]),
        st.lists(FEATURES, min_size=1, max_size=6),
        st.booleans(),
    ),
    max_size=6,
)


def built(passes) -> tuple[CapturedRecords, list[dict]]:
    chunks, records = [], []
    for k, (at, model, env, rows, same_keys) in enumerate(passes):
        if same_keys:  # the usual batch: every row has the first row's features
            rows = [{name: row.get(name) for name in rows[0]} for row in rows]
        predictions = [((k + i) % 10) / 10 for i in range(len(rows))]
        batch = [
            record(f"r{k}", i, at, model, env, row, p) for i, (row, p) in enumerate(zip(rows, predictions, strict=True))
        ]
        chunk = CapturedChunk.of(
            request_ids=[r["request_id"] for r in batch],
            rows=[r["row"] for r in batch],
            served_at=[at] * len(batch),
            model=model,
            version=batch[0]["version"],
            env=env,
            kind="tabular",
            features=rows,
            predictions=predictions,
            labels=[r["label"] for r in batch],
            confidences=[r["confidence"] for r in batch],
        )
        chunks.append(chunk)
        records += batch
    return CapturedRecords(chunks), records


def without_none(r: dict) -> dict:
    return {**r, "features": {k: v for k, v in r["features"].items() if v is not None}}


@settings(max_examples=150, deadline=None)
@given(passes=PASSES)
def test_columns_read_back_as_the_records_they_were(passes):
    captured, records = built(passes)
    expected = [without_none(r) for r in records]
    assert len(captured) == len(records)
    assert list(captured) == expected
    assert [without_none(r) for r in CapturedRecords.of(records)] == expected
    if records:
        assert captured[-1] == expected[-1] and captured[1:3] == expected[1:3]


@settings(max_examples=150, deadline=None)
@given(passes=PASSES)
def test_parts_are_the_records_by_env_model_and_utc_day(passes):
    captured, records = built(passes)
    expected = defaultdict(list)
    for r in records:
        expected[(r["env"], r["model"], r["served_at"].astimezone(UTC).date())].append(without_none(r))
    parts = {key: list(part) for key, part in captured.parts()}
    assert parts == dict(expected) and list(parts) == list(expected)


@settings(max_examples=100, deadline=None)
@given(passes=PASSES)
def test_the_parquet_file_holds_every_records_values(passes):
    captured, records = built(passes)
    if not records:
        return
    table = pq.read_table(io.BytesIO(parquet_bytes(captured)))
    rows = table.to_pylist()
    assert len(rows) == len(records)
    for got, r in zip(rows, records, strict=True):
        assert got["served_at"] == r["served_at"].astimezone(UTC)  # the instant, in UTC
        assert got["model_version"] == f"v{r['version']}"
        for name in ("request_id", "row", "model", "version", "env", "kind", "prediction", "label", "confidence"):
            assert got[name] == r[name]
        for name, value in r["features"].items():
            column = f"feature_{name}" if name in ("row", "label") else name
            # a column mixing ints and floats is read as floats; otherwise the value as sent
            assert got[column] == value or (isinstance(value, int) and got[column] == float(value))
    features = {name for r in records for name in r["features"]}
    assert set(table.column_names) - set(rows[0]) == set()
    assert {f"feature_{n}" if n in ("row", "label") else n for n in features} <= set(table.column_names)


SCALARS = st.one_of(
    st.lists(st.integers(-(2**63), 2**63 - 1)),
    st.lists(st.integers(-(2**70), 2**70)),
    st.lists(st.floats(allow_nan=False) | st.integers(-(2**53), 2**53)),
    st.lists(st.floats(allow_nan=False) | st.integers(-(2**60), 2**60)),
    st.lists(st.text()),  # any text: NULs, and lone surrogates, which UTF-8 cannot hold
    st.lists(st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3)),
)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(SCALARS, max_size=4))
@example(parts=[[1.5], [2**60]])  # an int past 2**53 joining floats: Arrow refuses it
@example(parts=[[1.5], [3]])
def test_packed_columns_read_back_their_values_and_become_what_arrow_makes_of_them(parts):
    packed = [Packed.of(values) for values in parts]
    for column, values in zip(packed, parts, strict=True):
        assert len(column) == len(values) and column.to_list() == values
    every = [value for values in parts for value in values]
    try:
        expected = pa.array(every)
    except (pa.ArrowException, OverflowError):  # a mix Arrow refuses: so do the packed columns
        with pytest.raises((pa.ArrowException, OverflowError)):
            _arrow(packed)
        return
    got = _arrow(packed)
    assert got.to_pylist() == expected.to_pylist()
    assert got.type == expected.type or (got.type, expected.type) == (pa.string(), pa.large_string())
