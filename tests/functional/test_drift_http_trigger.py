"""drift_report_http, as Cloud Scheduler's HTTP target calls it through functions-framework."""

from __future__ import annotations

import json

from functions_framework import create_app

from shared.manifest import REPO_ROOT, function_named

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
