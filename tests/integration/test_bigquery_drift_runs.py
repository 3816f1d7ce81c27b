"""BigQueryDriftRunStore on bqemulator: once per run_key, and `latest` as the SQLite store gives it."""

from __future__ import annotations

import uuid

import pytest

from shared.adapters.bigquery_drift_runs import BigQueryDriftRunStore
from shared.adapters.sqlite_drift_runs import SqliteDriftRunStore
from tests.integration.conftest import PROJECT

pytestmark = pytest.mark.integration


def run(key: str, started_at: str, drifted: list[str]) -> dict:
    return {
        "run_key": key,
        "model": "fraud",
        "env": "dev",
        "job": "drift-fraud",
        "schedule_time": started_at,
        "started_at": started_at,
        "reference": "bq://p.d.reference",
        "current": "bq://p.d.serving",
        "reference_rows": 1000,
        "current_rows": 400,
        "features": 5,
        "drifted_features": drifted,
        "drifted_share": len(drifted) / 5,
        "drift_share_threshold": 0.3,
        "dataset_drifted": len(drifted) / 5 >= 0.3,
        "report_uri": f"gs://ml-drift-logs-dev/{key}.html",
        "summary_uri": f"gs://ml-drift-logs-dev/{key}.json",
    }


def test_once_per_run_key_and_latest_like_sqlite(bigquery_client, tmp_path):
    store = BigQueryDriftRunStore(bigquery_client, f"{PROJECT}.ml_monitoring_{uuid.uuid4().hex[:8]}.drift_runs")
    store.ensure_table()
    store.ensure_table()  # idempotent
    reference = SqliteDriftRunStore(tmp_path / "monitoring.sqlite")
    older = run("drift-fraud@2026-11-20T00:00:00+00:00", "2026-11-20T00:00:00+00:00", [])
    newer = run("drift-fraud@2026-11-20T06:00:00+00:00", "2026-11-20T06:00:00+00:00", ["amount", "country"])

    assert [store.record(r) for r in (older, newer, newer)] == [True, True, False]
    for r in (older, newer):
        reference.record(r)

    assert store.latest("fraud", "dev") == reference.latest("fraud", "dev")
    assert store.latest("fraud", "dev")["drifted_features"] == ["amount", "country"]
    assert store.latest("fraud", "prod") is None
