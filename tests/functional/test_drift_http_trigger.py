"""drift_report_http, as Cloud Scheduler's HTTP target calls it through functions-framework."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from shared.adapters.local_object_store import LocalObjectStore
from tooling.manifest import REPO_ROOT, function_named

FIXTURE = json.loads((REPO_ROOT / "events/drift/02-scheduled-run.http.json").read_text())


def client():
    spec = function_named("drift_report_http")
    return create_app(spec.entry_point, str(spec.source_path), "http").test_client()


def test_the_outcome_is_answered_as_json_and_a_rerun_of_the_same_schedule_is_a_duplicate(state_dir):
    first = client().post("/", headers=FIXTURE["headers"], json=FIXTURE["body"])
    again = client().post("/", headers=FIXTURE["headers"], json=FIXTURE["body"])
    assert (first.status_code, first.get_json()["outcome"]) == (200, "applied")
    assert (again.status_code, again.get_json()["outcome"]) == (200, "duplicate")


def test_without_a_schedule_time_every_call_runs_now(state_dir):
    headers = {k: v for k, v in FIXTURE["headers"].items() if k != "X-CloudScheduler-ScheduleTime"}
    outcomes = [client().post("/", headers=headers, json=FIXTURE["body"]).get_json()["outcome"] for _ in range(2)]
    assert outcomes == ["applied", "applied"]


def test_a_bad_schedule_time_or_body_is_422_naming_the_field(state_dir):
    bad_time = client().post(
        "/", headers={**FIXTURE["headers"], "X-CloudScheduler-ScheduleTime": "noon"}, json=FIXTURE["body"]
    )
    bad_body = client().post("/", headers=FIXTURE["headers"], data=b"{not json", content_type="application/json")
    assert (bad_time.status_code, bad_time.get_json()["outcome"]) == (422, "rejected")
    assert "X-CloudScheduler-ScheduleTime" in bad_time.get_json()["detail"]
    assert (bad_body.status_code, bad_body.get_json()["detail"]) == (422, "body: is not valid JSON")


# -- a refused request writes nothing ---------------------------------------------------------------------

REFERENCE, CURRENT = FIXTURE["body"]["reference"], FIXTURE["body"]["current"]
WINDOW = {"start": "2026-09-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}


def written(state: Path) -> dict[str, Any]:
    """Everything a drift run can leave behind: objects in any bucket, drift_runs rows, Slack posts."""
    buckets = state / "buckets"
    store = LocalObjectStore(buckets)
    runs = state / "monitoring.sqlite"
    outbox = state / "slack-outbox.jsonl"
    return {
        "objects": sorted(f"{b}/{o.name}" for b in store.list_buckets() for o in store.list_objects(b)),
        "files": sorted(p.relative_to(buckets).as_posix() for p in buckets.rglob("*") if p.is_file()),
        "drift_runs": sqlite3.connect(runs).execute("SELECT run_key FROM drift_runs").fetchall()
        if runs.exists()
        else [],
        "slack": outbox.read_text() if outbox.exists() else "",
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reference": {**REFERENCE, "timestamp_column": "evnt_time", **WINDOW}}, "reference.timestamp_column"),
        ({"current": {**CURRENT, "timestamp_column": "evnt_time"}}, "current.timestamp_column"),
        ({"current": {**CURRENT, "timestamp_column": "amount"}}, "current.timestamp_column"),  # no time in it
        ({"methods": {"amount": {"method": "chi2", "threshold": 0.05}}}, "methods.amount"),  # numeric, not categories
        ({"methods": {"amount": ["chi2", 0.05]}}, "methods.amount"),
        ({"reference": {"uri": "gs://ml-drift-dev/fraud-detector/nothing-here/*.parquet"}}, "reference.uri"),
        ({"current": {**CURRENT, "uri": "gs://ml-drift-dev/fraud-detector/nothing-here/*.parquet"}}, "current.uri"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_rejected_run_names_the_field_and_writes_nothing(state_dir, change, field):
    # GIVEN the embedded profile's buckets holding only the sample data
    before = written(state_dir)

    # WHEN Cloud Scheduler posts a job whose body is wrong in a way only the data can tell
    answer = client().post("/", headers=FIXTURE["headers"], json={**FIXTURE["body"], **change})

    # THEN the run is rejected naming the field, and it left nothing: no cached reference profile,
    # no report, no drift_runs row, no Slack post
    assert (answer.status_code, answer.get_json()["outcome"]) == (422, "rejected")
    assert answer.get_json()["detail"].startswith(f"{field}: "), answer.get_json()["detail"]
    assert written(state_dir) == before
    # AND the same scheduled run, corrected, is not a duplicate: it runs and writes its report, its
    # row and the reference's profile
    fixed = client().post("/", headers=FIXTURE["headers"], json=FIXTURE["body"])
    assert (fixed.status_code, fixed.get_json()["outcome"]) == (200, "applied")
    after = written(state_dir)
    new = sorted(set(after["objects"]) - set(before["objects"]))
    assert [name.split("/")[:2] for name in new] == [
        ["ml-drift-logs-dev", "drift-cache"],  # the reference's profile
        ["ml-drift-logs-dev", "drift"],  # the report
        ["ml-drift-logs-dev", "drift"],  # its JSON summary
    ]
    assert len(after["drift_runs"]) == 1
