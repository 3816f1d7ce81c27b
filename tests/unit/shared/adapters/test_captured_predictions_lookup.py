"""ObjectStoreCapturedPredictions on the embedded profile's real object store, over files written by the real
ObjectStorePredictionSink: what a lookup finds, how far back it looks, and what it skips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.local_object_store import LocalObjectStore
from shared.adapters.parquet_captured_predictions import ObjectStoreCapturedPredictions
from shared.adapters.parquet_prediction_sink import ObjectStorePredictionSink
from shared.ports import CapturedPrediction

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def record(request_id: str, row: int, at: datetime, prediction: float, version: int = 3) -> dict:
    return {
        "request_id": request_id,
        "row": row,
        "served_at": at,
        "model": "fraud",
        "version": version,
        "env": "dev",
        "kind": "tabular",
        "features": {"amount": 1.0, "row": 7},  # a feature named like a column: kept as feature_row
        "prediction": prediction,
        "label": "1" if prediction >= 0.5 else "0",
        "confidence": max(prediction, 1 - prediction),
    }


@pytest.fixture
def objects(tmp_path):
    return LocalObjectStore(tmp_path / "buckets")


def lookup(objects, days: int = 7) -> ObjectStoreCapturedPredictions:
    return ObjectStoreCapturedPredictions(objects, days=days, clock=lambda: NOW)


def test_a_row_is_found_with_what_was_served_among_other_files_and_days(objects):
    sink = ObjectStorePredictionSink(objects)
    sink.write([record("a", 0, NOW - timedelta(hours=1), 0.125), record("a", 1, NOW - timedelta(hours=1), 0.875)])
    sink.write([record("b", 0, NOW - timedelta(days=2), 0.3)])
    sink.write([record("c", 0, NOW, 0.6)])

    found = lookup(objects).find("fraud", "dev", "a", 1)

    assert found == CapturedPrediction(
        request_id="a", row=1, version=3, served_at=NOW - timedelta(hours=1), prediction=0.875, label="1",
        confidence=0.875,
    )  # fmt: skip
    assert lookup(objects).find("fraud", "dev", "b", 0).prediction == 0.3  # two days back
    assert lookup(objects).find("fraud", "dev", "a", 2) is None  # a row the request did not have captured
    assert lookup(objects).find("fraud", "prod", "a", 1) is None  # another env's bucket (missing)
    assert lookup(objects).find("other-model", "dev", "a", 1) is None


def test_captures_older_than_the_window_are_not_searched(objects):
    ObjectStorePredictionSink(objects).write([record("old", 0, NOW - timedelta(days=3), 0.9)])
    assert lookup(objects, days=3).find("fraud", "dev", "old", 0) is not None  # served 3 x 24 h ago: inside
    assert lookup(objects, days=2).find("fraud", "dev", "old", 0) is None


def test_a_row_served_late_yesterday_joins_within_a_one_day_window(objects):
    # served at 23:59 UTC, the label sent at 00:01: two minutes apart, two day partitions apart
    just_before_midnight = NOW.replace(hour=23, minute=59) - timedelta(days=1)
    ObjectStorePredictionSink(objects).write([record("late", 0, just_before_midnight, 0.9)])
    early = ObjectStoreCapturedPredictions(objects, days=1, clock=lambda: NOW.replace(hour=0, minute=1))
    assert early.find("fraud", "dev", "late", 0) is not None
    with pytest.raises(ValueError):
        lookup(objects, days=0)


def test_a_file_that_is_not_parquet_is_skipped(objects):
    ObjectStorePredictionSink(objects).write([record("a", 0, NOW, 0.2)])
    objects.put("ml-predictions-dev", "fraud/dt=2026-03-10/part-zzzz.parquet", b"not parquet at all")
    assert lookup(objects).find("fraud", "dev", "a", 0).prediction == 0.2
