"""BigQueryDriftRunStore on bqemulator: once per run_key, and `latest` / `history` exactly as SqliteDriftRunStore
gives them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.bigquery_drift_runs import BigQueryDriftRunStore
from shared.adapters.sqlite_drift_runs import SqliteDriftRunStore
from tests.integration.conftest import PROJECT

pytestmark = pytest.mark.integration


def run(started_at: str, drifted: list[str], *, model: str = "fraud", env: str = "dev") -> dict[str, Any]:
    key = f"drift-{model}@{started_at}"
    return {
        "run_key": key,
        "model": model,
        "env": env,
        "job": f"drift-{model}",
        "schedule_time": started_at,
        "started_at": started_at,
        "reference": "bq://p.d.reference",
        "current": "bq://p.d.serving [2026-11-19T06:00:00+00:00, 2026-11-20T06:00:00+00:00)",
        "reference_rows": 1000,
        "current_rows": 400,
        "features": 5,
        "drifted_features": drifted,
        "drifted_share": len(drifted) / 5,
        "drift_share_threshold": 0.3,
        "dataset_drifted": len(drifted) / 5 >= 0.3,
        "report_uri": f"gs://ml-drift-logs-{env}/{key}.html",
        "summary_uri": f"gs://ml-drift-logs-{env}/{key}.json",
        "feature_scores": {
            name: {
                "value": 0.3 if name in drifted else 0.02,
                "threshold": 0.1,
                "method": "js",
                "drifted": name in drifted,
            }
            for name in ("amount", "country", "device<&>\"'")
        }
        | {"version": {"value": "inf", "threshold": 0.1, "method": "wasserstein", "drifted": True}},
    }


@pytest.fixture
def drift_runs_table_id(bigquery_client: Any) -> str:
    """A table id in a new dataset for each test (ensure_table creates both)."""
    return f"{PROJECT}.ml_monitoring_{uuid.uuid4().hex[:12]}.drift_runs"


@pytest.fixture
def store(bigquery_client: Any, drift_runs_table_id: str) -> BigQueryDriftRunStore:
    store = BigQueryDriftRunStore(bigquery_client, drift_runs_table_id, timeout_s=10)
    store.ensure_table()
    return store


@pytest.fixture
def reference(tmp_path: Path) -> SqliteDriftRunStore:
    return SqliteDriftRunStore(tmp_path / "monitoring.sqlite")


def count(bigquery_client: Any, table_id: str) -> int:
    [row] = bigquery_client.query(f"SELECT COUNT(*) AS n FROM `{table_id}`").result(timeout=10)
    return row["n"]


def test_record_is_once_per_run_key(store: BigQueryDriftRunStore, bigquery_client: Any, drift_runs_table_id: str):
    # GIVEN a run WHEN it is recorded twice (a redelivery) THEN the second is refused and one row is there
    row = run("2026-11-20T06:00:00+00:00", ["amount", "country"])

    assert store.record(row) is True
    assert store.record(row) is False
    assert count(bigquery_client, drift_runs_table_id) == 1


def test_latest_is_the_newest_run_in_the_sqlite_shape(store: BigQueryDriftRunStore, reference: SqliteDriftRunStore):
    # GIVEN two runs of one model, the newer recorded first, and another env's run, in both stores
    newer = run("2026-11-20T06:00:00.123456+00:00", ["amount", "country"])
    older = run("2026-11-19T06:00:00+00:00", ["amount"])
    other_env = run("2026-11-21T06:00:00+00:00", [], env="prod")
    for row in (newer, older, other_env):
        assert store.record(row) is True
        assert reference.record(row) is True

    # WHEN the latest run is read THEN it is the newer one, exactly as the SQLite store returns it
    latest = store.latest("fraud", "dev")
    assert latest == reference.latest("fraud", "dev") == newer
    assert isinstance(latest["dataset_drifted"], bool) and isinstance(latest["drifted_features"], list)
    assert store.latest("fraud", "staging") is None is reference.latest("fraud", "staging")


def test_a_run_without_drifted_features(store: BigQueryDriftRunStore, reference: SqliteDriftRunStore):
    # GIVEN a run where nothing drifted (an empty ARRAY<STRING> parameter) and no schedule (manual run)
    row = {**run("2026-11-20T06:00:00+00:00", []), "schedule_time": None, "job": None}
    assert store.record(row) is True
    reference.record(row)

    # WHEN read back THEN the list is empty, the verdict False, the NULLs None, as in SQLite
    latest = store.latest("fraud", "dev")
    assert latest == reference.latest("fraud", "dev") == row
    assert latest["drifted_features"] == [] and latest["dataset_drifted"] is False


def test_ensure_table_is_idempotent_and_partitioned(
    store: BigQueryDriftRunStore, bigquery_client: Any, drift_runs_table_id: str
):
    # GIVEN ensure_table ran (fixture) and a row is there WHEN it runs again THEN nothing changes
    store.record(run("2026-11-20T06:00:00+00:00", ["amount"]))
    store.ensure_table()

    table = bigquery_client.get_table(drift_runs_table_id)
    assert table.time_partitioning.field == "started_at"
    assert table.clustering_fields == ["model", "env"]
    assert {f.name: f.mode for f in table.schema}["drifted_features"] == "REPEATED"
    assert count(bigquery_client, drift_runs_table_id) == 1


def test_history_is_the_last_runs_newest_first_as_sqlite_gives_them(
    store: BigQueryDriftRunStore, reference: SqliteDriftRunStore
):
    # GIVEN four runs of one model recorded out of order, and another env's run, in both stores
    rows = [run(f"2026-11-{day}T06:00:00+00:00", ["amount"] if day % 2 else []) for day in (19, 21, 18, 20)]
    rows.append(run("2026-11-22T06:00:00+00:00", [], env="prod"))
    for row in rows:
        assert store.record(row) is True
        assert reference.record(row) is True

    # WHEN the last three are read THEN they are the newest three, with their scores, as SQLite has them
    history = store.history("fraud", "dev", limit=3)
    assert history == reference.history("fraud", "dev", limit=3)
    assert [r["started_at"][:10] for r in history] == ["2026-11-21", "2026-11-20", "2026-11-19"]
    assert history[0]["feature_scores"]["amount"] == {"value": 0.3, "threshold": 0.1, "method": "js", "drifted": True}
    assert history[0]["feature_scores"]["version"]["value"] == "inf"
    assert store.history("fraud", "staging") == []
