"""SqliteDriftRunStore (embedded profile): once per run key, each run's feature scores, the last N runs."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from shared.adapters.sqlite_drift_runs import COLUMNS, SqliteDriftRunStore


def run(day: int, *, env: str = "dev", scores: dict[str, Any] | None = None) -> dict[str, Any]:
    started = f"2026-11-{day:02d}T06:00:00+00:00"
    return {
        "run_key": f"drift-fraud@{started}",
        "model": "fraud",
        "env": env,
        "job": "drift-fraud",
        "schedule_time": started,
        "started_at": started,
        "features": 2,
        "drifted_features": ["amount"],
        "dataset_drifted": True,
        "feature_scores": scores if scores is not None else {"amount": {"value": 0.01 * day, "threshold": 0.1,
                                                                        "method": "wasserstein", "drifted": False}},
    }  # fmt: skip


def test_history_is_the_last_runs_of_one_model_and_env_newest_first(tmp_path):
    store = SqliteDriftRunStore(tmp_path / "monitoring.sqlite")
    for day in (3, 1, 2, 4):
        assert store.record(run(day)) is True
    store.record(run(5, env="prod"))
    assert store.record(run(3)) is False  # a redelivery

    history = store.history("fraud", "dev", limit=3)

    assert [r["started_at"][:10] for r in history] == ["2026-11-04", "2026-11-03", "2026-11-02"]
    assert history[0]["feature_scores"]["amount"] == {
        "value": 0.04,
        "threshold": 0.1,
        "method": "wasserstein",
        "drifted": False,
    }
    assert history[0] == store.latest("fraud", "dev")
    assert (history[0]["drifted_features"], history[0]["dataset_drifted"]) == (["amount"], True)
    assert store.history("fraud", "staging") == []


def test_scores_are_strict_json(tmp_path):
    store = SqliteDriftRunStore(tmp_path / "monitoring.sqlite")
    with pytest.raises(ValueError):
        store.record(run(1, scores={"amount": {"value": float("inf")}}))  # history.feature_scores writes "inf"


def test_a_file_from_before_feature_scores_gets_the_column_and_its_rows_read_empty(tmp_path):
    # GIVEN a monitoring.sqlite written before the column existed, with one run in it
    path = tmp_path / "monitoring.sqlite"
    old = [c for c in COLUMNS if c != "feature_scores"]
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"CREATE TABLE drift_runs ({', '.join(c + (' TEXT PRIMARY KEY' if c == 'run_key' else '') for c in old)})"
        )
        conn.execute(
            "INSERT INTO drift_runs (run_key, model, env, started_at, drifted_features, dataset_drifted)"
            " VALUES ('old', 'fraud', 'dev', '2026-11-01T06:00:00+00:00', '[]', 0)"
        )

    # WHEN the store opens it THEN new runs record their scores, and the old run reads without any
    store = SqliteDriftRunStore(path)
    assert store.record(run(2)) is True
    old_run, new_run = reversed(store.history("fraud", "dev"))
    assert (old_run["run_key"], old_run["feature_scores"]) == ("old", {})
    assert new_run["feature_scores"]["amount"]["value"] == 0.02
    SqliteDriftRunStore(path)  # opening it again adds nothing twice
