"""Slack injection through the real functions-framework apps: hostile events in, safe Block Kit in the outbox.

The embedded profile posts to its JSONL outbox exactly the payload a webhook would get; each payload is
read back and checked as tests/unit/shared/test_slack_injection.py reads Slack text.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from functions_framework import create_app

from shared.adapters.local_object_store import LocalObjectStore
from shared.adapters.slack_outbox import read_outbox
from tests.unit.shared.test_slack_injection import ISSUE_ACCOUNT, assert_safe
from tooling.manifest import REPO_ROOT, function_named

BUDGET = json.loads((REPO_ROOT / "events/budget/02-actual-50.structured.json").read_text())
DRIFT = json.loads((REPO_ROOT / "events/drift/02-scheduled-run.http.json").read_text())


def app(name: str, signature: str):
    spec = function_named(name)
    return create_app(spec.entry_point, str(spec.source_path), signature).test_client()


def budget_event(message_id: str, data: dict, attributes: dict, mode: str) -> tuple[dict, bytes]:
    event = copy.deepcopy(BUDGET)
    event["id"] = event["data"]["message"]["messageId"] = message_id
    event["data"]["message"]["data"] = base64.b64encode(json.dumps(data).encode()).decode()
    event["data"]["message"]["attributes"] = attributes
    if mode == "structured":
        return {"Content-Type": "application/cloudevents+json"}, json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    headers.update({f"ce-{k}": str(v) for k, v in event.items() if k not in {"data", "datacontenttype"}})
    return headers, json.dumps(event["data"]).encode()


HOSTILE_NAMES = [
    "ml-platform-prod",
    "<!channel> ops <https://evil.example|click> & co",
    "\u202eevil\u202c <@U123> https://evil.example/login",
    "x" * 1_048_576,
]


@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_the_issue_example_reaches_slack_as_text_with_no_ping_and_no_link(state_dir, mode):
    # GIVEN the budget notification of events/budget/02 with the billingAccountId from the issue and
    # hostile budget names, delivered to the real budget_alert app
    client = app("budget_alert", "cloudevent")
    data = json.loads(base64.b64decode(BUDGET["data"]["message"]["data"]))
    for i, name in enumerate(HOSTILE_NAMES):
        attributes = {"billingAccountId": ISSUE_ACCOUNT, "budgetId": f"budget-{i}", "schemaVersion": "1.0"}
        headers, body = budget_event(f"97000000000009{i}", {**data, "budgetDisplayName": name}, attributes, mode)

        # WHEN it is posted
        response = client.post("/", headers=headers, data=body)
        assert response.status_code == 200

    # THEN every threshold still went out, and each post is plain text where the data was
    posts = read_outbox(state_dir / "slack-outbox.jsonl")
    assert len(posts) == len(HOSTILE_NAMES)
    for payload in posts:
        assert assert_safe(payload) == []
        assert payload["blocks"][-1]["elements"][0]["text"].startswith(
            "billing account `X|Open&gt; &lt;!channel&gt; &lt;https://evil.example/phish` (not an account id: no link)"
        )
    assert "… (cut, 1,048,576 characters)" in posts[-1]["blocks"][1]["text"]["text"]


def test_a_genuine_account_still_links_to_its_budgets(state_dir):
    client = app("budget_alert", "cloudevent")
    data = json.loads(base64.b64decode(BUDGET["data"]["message"]["data"]))
    attributes = BUDGET["data"]["message"]["attributes"]
    headers, body = budget_event("9700000000000990", data, attributes, "binary")
    assert client.post("/", headers=headers, data=body).status_code == 200
    [payload] = read_outbox(state_dir / "slack-outbox.jsonl")
    assert assert_safe(payload) == ["https://console.cloud.google.com/billing/01D4EE-079462-DFD6EC/budgets"]


HOSTILE_FEATURES = ["<!channel>", "amount|<https://evil.example|x>", "a&b > c", "\u202ertl", "`code` *b*"]


def test_a_drift_alert_on_hostile_column_names_links_only_to_its_report(state_dir):
    # GIVEN Parquet data in the embedded bucket whose column names are hostile, and which drifted
    rng = np.random.default_rng(7)
    store = LocalObjectStore(state_dir / "buckets")
    end = datetime(2026, 11, 20, tzinfo=UTC)
    for side, shift in (("reference", 0.0), ("current", 5.0)):
        columns = {name: rng.normal(shift, 1.0, 2_000) for name in HOSTILE_FEATURES}
        times = [end - timedelta(minutes=int(m)) for m in rng.integers(1, 300, 2_000)]
        columns["event_time"] = pa.array(times, pa.timestamp("us", tz="UTC"))
        sink = io.BytesIO()
        pq.write_table(pa.table(columns), sink)
        store.put("ml-drift-dev", f"hostile/{side}/part-0.parquet", sink.getvalue())
    body = {
        **DRIFT["body"],
        "reference": {"uri": "gs://ml-drift-dev/hostile/reference/*.parquet"},
        "current": {"uri": "gs://ml-drift-dev/hostile/current/*.parquet", "timestamp_column": "event_time"},
    }

    # WHEN Cloud Scheduler runs the job through the real drift_report_http app
    answer = app("drift_report_http", "http").post("/", headers=DRIFT["headers"], json=body)

    # THEN the alert names every feature as text and links only to the report in the console
    assert (answer.status_code, answer.get_json()["outcome"]) == (200, "applied"), answer.get_json()
    [payload] = read_outbox(state_dir / "slack-outbox.jsonl")
    [address] = assert_safe(payload)
    assert address.startswith("https://console.cloud.google.com/storage/browser/_details/ml-drift-logs-dev/drift/")
    drifted = payload["blocks"][2]["fields"][0]["text"]
    assert "`&lt;!channel&gt;`" in drifted and "`amount|&lt;https://evil.example|x&gt;`" in drifted
