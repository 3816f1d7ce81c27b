"""`up --only FUNCTION...`: just those functions, and just the emulators they need, still wired as in the cloud."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.local_cloud import RunningUp
from tooling.manifest import REPO_ROOT

pytestmark = pytest.mark.integration

BUDGET_FIXTURE = REPO_ROOT / "events" / "budget" / "02-actual-50.structured.json"


def publish_budget(running: RunningUp, budget_id: str, name: str) -> str:
    from google.cloud import pubsub_v1

    message = json.loads(BUDGET_FIXTURE.read_text())["data"]["message"]
    body = json.loads(base64.b64decode(message["data"]))
    body.update(budgetDisplayName=name, alertThresholdExceeded=0.5, costAmount=512.3)
    attributes = {**message.get("attributes", {}), "budgetId": budget_id}
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(running.state["project"], "billing-budget-alerts")
    return publisher.publish(topic, json.dumps(body).encode(), **attributes).result(30)


def test_only_budget_alert_starts_pubsub_and_firestore_and_delivers_a_notification(tmp_path: Path):
    # GIVEN up for budget_alert alone
    running = RunningUp.start(tmp_path, "--only", "budget_alert", "--backoff-scale", "0.02", "--no-schedules")
    try:
        # THEN only the emulators its trigger and its ports need run (Pub/Sub: its topic; Firestore: the
        # idempotency claims and the alert ledger), and only it is served
        assert sorted(running.state["emulators"]) == ["firestore", "pubsub"]
        assert sorted(running.state["functions"]) == ["budget_alert"]
        assert running.state["only"] == ["budget_alert"]
        assert running.state["resources"]["topics"] == ["billing-budget-alerts", "budget-alert-dead-letter"]
        exported = (running.state_dir / "up.env").read_text()
        assert "PUBSUB_EMULATOR_HOST" in exported and "STORAGE_EMULATOR_HOST" not in exported
        # WHEN a budget notification is published to the budget's topic THEN it is delivered and posted once
        with pytest.MonkeyPatch.context() as patch:
            for variable, value in running.client_env.items():
                patch.setenv(variable, value)
            budget_id = str(uuid.uuid4())
            name = f"only-{budget_id[:8]}"
            message_id = publish_budget(running, budget_id, name)
        running.wait_for(
            lambda events: [e for e in events if e.get("event_id") == message_id and e["outcome"] == "applied"],
            "budget_alert applied",
        )
        assert len(running.posts_about(name)) == 1
    finally:
        code = running.interrupt()
    assert code == 0, running.console()[-3000:]


def test_only_the_http_drift_job_runs_without_pubsub(tmp_path: Path):
    # GIVEN up for the HTTP-scheduled drift function: no topic anywhere, so no Pub/Sub emulator
    running = RunningUp.start(tmp_path, "--only", "drift_report_http", "--no-schedules")
    try:
        assert sorted(running.state["emulators"]) == ["bigquery", "firestore", "gcs"]
        assert sorted(running.state["functions"]) == ["drift_report_http"]
        # WHEN its job is forced THEN the function ran on the seeded data in fake-gcs-server
        command = [sys.executable, "-m", "tooling.cli.main", "trigger", "drift-report-http"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_EVENTS_")}
        fired = subprocess.run(
            [*command, "--state-dir", str(running.state_dir)], capture_output=True, text=True, env=env, timeout=60
        )
        assert fired.returncode == 0, fired.stderr
        [run] = running.wait_for(
            lambda events: [e for e in events if e["function"] == "drift_report_http" and e["outcome"] == "applied"],
            "HTTP drift run",
            timeout_s=60,
        )
        assert run["http_status"] == 200
    finally:
        code = running.interrupt()
    assert code == 0, running.console()[-3000:]
