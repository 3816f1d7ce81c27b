"""Captured predictions on the emulators: Parquet written to fake-gcs-server and read back by the drift job,
rows streamed into bqemulator's ml_monitoring.predictions and compared there, one model's rows only."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from handlers import drift_report
from shared.adapters.bigquery_prediction_sink import ROWS_PER_INSERT, BigQueryPredictionSink
from shared.adapters.gcs_parquet_files import GcsParquetFiles
from shared.adapters.parquet_prediction_sink import ObjectStorePredictionSink, parquet_bytes
from shared.drift.detect import DriftConfig
from shared.drift.engines.bigquery_sql import BigQueryProfiler
from shared.drift.engines.by_location import DriftSourceProfiler
from shared.drift.engines.parquet_files import ParquetProfiler
from shared.drift.served import served_drift
from shared.outcome import Status
from shared.payloads.drift import parse_drift_request
from tests.integration.conftest import PROJECT, gcs_store
from tests.support.fakes import FakeDeps

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def served(rng, n: int, *, at: datetime, shifted: bool, model: str = "fraud", version: int = 1) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        amount = float(rng.normal(90 if shifted else 50, 10))
        p = float(1 / (1 + np.exp(-(amount - 60) / 10)))
        out.append(
            {
                "request_id": f"r{uuid.uuid4().hex[:8]}",
                "row": 0,
                "served_at": at - timedelta(seconds=int(rng.integers(1, 3000))) + timedelta(seconds=i % 2),
                "model": model,
                "version": version,
                "env": "dev",
                "kind": "tabular",
                "features": {"amount": amount, "country": "US"},
                "prediction": p,
                "label": "1" if p >= 0.5 else "0",
                "confidence": max(p, 1 - p),
            }
        )
    return out


def test_parquet_captures_on_fake_gcs_read_back_and_feed_the_drift_job(storage_client):
    rng = np.random.default_rng(3)
    bucket = f"ml-predictions-it-{uuid.uuid4().hex[:10]}"
    storage_client.create_bucket(bucket)
    sink = ObjectStorePredictionSink(gcs_store(), bucket)
    # GIVEN an hour of ordinary traffic, then an hour of shifted traffic answered by v2, across midnight
    sink.write(served(rng, 400, at=NOW - timedelta(hours=1), shifted=False))
    sink.write(served(rng, 400, at=NOW, shifted=True, version=2))
    names = sorted(b.name for b in storage_client.list_blobs(bucket))
    assert len(names) == 2 and all(n.startswith("fraud/dt=2026-12-05/part-") for n in names)
    table = pq.read_table(io.BytesIO(storage_client.bucket(bucket).blob(names[0]).download_as_bytes()))
    assert {"request_id", "served_at", "amount", "country", "prediction", "confidence", "model_version"} <= set(
        table.column_names
    )
    # a reference like the first hour's inputs
    ref_rows = served(rng, 1000, at=NOW - timedelta(days=30), shifted=False)
    storage_client.create_bucket(f"ml-drift-{bucket[-10:]}")
    storage_client.bucket(f"ml-drift-{bucket[-10:]}").blob("fraud/reference/part-0.parquet").upload_from_string(
        parquet_bytes(ref_rows)
    )

    # WHEN the drift job reads the last hour of captures from fake-gcs-server
    body = {
        "model": "fraud",
        "env": "dev",
        "reference": {"uri": f"gs://ml-drift-{bucket[-10:]}/fraud/reference/*.parquet"},
        "current": {
            "uri": f"gs://{bucket}/fraud/dt=*/*.parquet",
            "timestamp_column": "served_at",
            "window_hours": 1,
            "captured": True,
        },
        "features": ["amount", "country"],
    }
    deps = FakeDeps()
    deps.feature_profiler = ParquetProfiler(GcsParquetFiles(storage_client))
    request = parse_drift_request(body, event_id="e1", job="drift-served", schedule_time=NOW + timedelta(seconds=5))
    outcome = drift_report.handle(request, deps)

    # THEN the inputs and the outputs drifted, against the hour before, and v2 answered
    assert outcome.status is Status.APPLIED, outcome.detail
    [row] = deps.drift_runs.rows.values()
    assert {"amount", "prediction drift: prediction", "confidence drift: confidence"} <= set(row["drifted_features"])
    assert "versions served: v2" in outcome.detail


def test_bigquery_captures_stream_into_the_table_and_drift_reads_one_model(bigquery_client):
    rng = np.random.default_rng(5)
    table_id = f"{PROJECT}.ml_monitoring_{uuid.uuid4().hex[:10]}.predictions"
    sink = BigQueryPredictionSink(bigquery_client, table_id, timeout_s=30)
    sink.ensure_table()
    # GIVEN the model's ordinary then shifted traffic, and another model's rows in the same table
    sink.write(served(rng, 300, at=NOW - timedelta(hours=1), shifted=False))
    sink.write(served(rng, 300, at=NOW, shifted=True, version=2))
    # one write of more rows than a streaming insert should carry: sent in requests of ROWS_PER_INSERT
    sink.write(served(rng, 2 * ROWS_PER_INSERT + 1, at=NOW, shifted=False, model="other", version=7))
    rows = list(bigquery_client.query(f"SELECT model, features, served_at FROM `{table_id}`").result())
    assert len(rows) == 600 + 2 * ROWS_PER_INSERT + 1
    features = rows[0]["features"]
    assert set(json.loads(features) if isinstance(features, str) else features) == {"amount", "country"}

    # WHEN the captured table is the current side, for `fraud`
    body = {
        "model": "fraud",
        "env": "dev",
        "reference": {"uri": f"bq://{table_id}"},
        "current": {"uri": f"bq://{table_id}", "timestamp_column": "served_at", "window_hours": 1, "captured": True},
    }
    request = parse_drift_request(body, event_id="e2", job="drift-served-bq", schedule_time=NOW + timedelta(seconds=5))
    assert request.current.model_filter == "fraud"
    profiler = DriftSourceProfiler(bigquery=lambda: BigQueryProfiler(bigquery_client, timeout_s=30))
    result = served_drift(profiler, request.current, request.current_window(NOW), DriftConfig())

    # THEN the outputs drifted against the hour before, and only fraud's version is named
    assert result.versions == ("v2",)
    drifted = {f.feature for f in result.features if f.drifted}
    assert {"prediction drift: prediction", "confidence drift: confidence"} <= drifted
