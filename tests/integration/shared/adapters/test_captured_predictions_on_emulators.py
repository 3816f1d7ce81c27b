"""The lookups /feedback joins labels with, on the emulators: captures written by the real sinks to
fake-gcs-server (Parquet) and bqemulator (ml_monitoring.predictions), found again by request id and row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.bigquery_captured_predictions import BigQueryCapturedPredictions
from shared.adapters.bigquery_prediction_sink import BigQueryPredictionSink
from shared.adapters.parquet_captured_predictions import ObjectStoreCapturedPredictions
from shared.adapters.parquet_prediction_sink import ObjectStorePredictionSink
from shared.errors import TransientError
from tests.integration.conftest import PROJECT, gcs_store

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def record(request_id: str, row: int, at: datetime, prediction: float, *, model: str = "fraud") -> dict[str, Any]:
    return {
        "request_id": request_id,
        "row": row,
        "served_at": at,
        "model": model,
        "version": 2,
        "env": "dev",
        "kind": "tabular",
        "features": {"amount": 12.5},
        "prediction": prediction,
        "label": "1" if prediction >= 0.5 else "0",
        "confidence": max(prediction, 1 - prediction),
    }


def traffic() -> list[dict[str, Any]]:
    return [
        record("a", 0, NOW - timedelta(minutes=5), 0.125),
        record("a", 1, NOW - timedelta(minutes=5), 0.8125),
        record("b", 0, NOW - timedelta(days=2), 0.25),  # two days back
        record("old", 0, NOW - timedelta(days=9), 0.5),  # past a 7-day window
        record("a", 1, NOW, 0.0, model="other"),  # another model's row with the same id and row
    ]


def check(lookup: Any) -> None:
    found = lookup.find("fraud", "dev", "a", 1)
    assert found is not None and (found.version, found.prediction, found.label) == (2, 0.8125, "1")
    assert found.confidence == 0.8125 and found.served_at == NOW - timedelta(minutes=5)
    assert lookup.find("fraud", "dev", "b", 0).prediction == 0.25
    assert lookup.find("fraud", "dev", "old", 0) is None
    assert lookup.find("fraud", "dev", "a", 2) is None
    assert lookup.find("other", "dev", "a", 1).prediction == 0.0


def test_parquet_captures_on_fake_gcs_are_found_by_request_id_and_row(storage_client):
    bucket = f"ml-predictions-it-{uuid.uuid4().hex[:10]}"
    storage_client.create_bucket(bucket)
    objects = gcs_store()
    ObjectStorePredictionSink(objects, bucket).write(traffic())

    check(ObjectStoreCapturedPredictions(objects, bucket, days=7, clock=lambda: NOW))
    missing = ObjectStoreCapturedPredictions(objects, "no-such-bucket-{env}", clock=lambda: NOW)
    assert missing.find("fraud", "dev", "a", 1) is None


def test_bigquery_captures_are_found_by_a_partition_pruned_query(bigquery_client):
    table_id = f"{PROJECT}.ml_monitoring_{uuid.uuid4().hex[:10]}.predictions"
    sink = BigQueryPredictionSink(bigquery_client, table_id, timeout_s=30)
    sink.ensure_table()
    sink.write(traffic())

    lookup = BigQueryCapturedPredictions(bigquery_client, table_id, days=7, timeout_s=30, clock=lambda: NOW)
    assert lookup.since() == datetime(2026, 11, 28, tzinfo=UTC)  # the whole UTC day 7 x 24 h ago
    check(lookup)


def test_an_unreachable_bigquery_is_a_transient_error_not_a_miss():
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint="http://127.0.0.1:9"),  # nothing listens there
    )
    lookup = BigQueryCapturedPredictions(client, f"{PROJECT}.ml_monitoring.predictions", timeout_s=2)
    with pytest.raises(TransientError):
        lookup.find("fraud", "dev", "a", 1)
