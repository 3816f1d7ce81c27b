"""evaluate_model end to end on the emulators profile: the metrics files in fake-gcs-server, the aliases and
decisions in the Firestore emulator and bqemulator (the fan-out registry), through the real
functions-framework app as Eventarc would post the finalize events."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from shared.adapters.firestore_registry import FirestoreRegistryStore
from tests.integration.conftest import firestore_rest
from tests.integration.functions.test_register_model_on_emulators import upload_event
from tooling.delivery import delivery_from_document
from tooling.manifest import function_named
from tooling.replay import Replayer

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[3] / "events"


@pytest.fixture
def profile(monkeypatch, tmp_path, registry_on_emulators):
    """The registry's emulators profile, with a policy that auto-promotes its env."""
    env = registry_on_emulators["env"]
    policy = {"metrics": {"auc": {"direction": "higher", "tolerance": 0.01, "required": True}}, "auto_promote": [env]}
    monkeypatch.setenv("MLOPS_EVENTS_GATE_POLICY", json.dumps(policy))
    return {**registry_on_emulators, "outbox": tmp_path / "slack-outbox.jsonl"}


def test_metrics_uploads_are_gated_against_the_champion_on_the_emulators(profile, firestore_db):
    replayer = Replayer()
    spec = function_named("evaluate_model")
    env = profile["env"]

    def deliver(name: str, metrics: dict):
        event = upload_event(profile["bucket"], name, json.dumps(metrics).encode())
        return event, replayer.deliver(spec, delivery_from_document(event), label=name)

    # GIVEN v1's metrics, the first: it passes with no baseline and becomes candidate and champion
    v1_event, v1 = deliver("fraud/v1/metrics.json", {"auc": 0.91})
    assert v1.outcome == "applied" and "candidate -> v1, champion -> v1" in v1.detail, v1.detail

    # WHEN v2 is better and v3 is worse past the tolerance
    _, v2 = deliver("fraud/v2/metrics.json", {"auc": 0.95})
    _, v3 = deliver("fraud/v3/metrics.json", {"auc": 0.90})
    again = replayer.deliver(spec, delivery_from_document(v1_event), label="redelivery")

    # THEN v2 is promoted, v3 is recorded as failed and moves nothing, and the redelivery is a duplicate
    assert "passed the quality gate against champion v1: candidate -> v2, champion -> v2" in v2.detail
    assert "failed the quality gate against champion v2: no alias moved" in v3.detail
    assert again.outcome == "duplicate"
    firestore = FirestoreRegistryStore(firestore_rest(firestore_db))
    assert {a.alias: a.version for a in firestore.aliases("fraud", env)} == {"candidate": 2, "champion": 2}
    assert [(d.version, d.passed) for d in firestore.decisions("fraud", env)] == [(1, True), (2, True), (3, False)]
    # the same decisions appended to BigQuery's log, the aliases in its view
    bigquery = profile["table"]
    assert [(d.version, d.passed) for d in bigquery.decisions("fraud", env)] == [(1, True), (2, True), (3, False)]
    assert {a.alias: a.version for a in bigquery.aliases("fraud", env)} == {"candidate": 2, "champion": 2}
    # the metrics files registered as files of their versions (register_model's claim, taken here)
    assert sorted(r["version"] for r in firestore.artifacts("fraud", env)) == [1, 2, 3]
    posts = [json.loads(line) for line in profile["outbox"].read_text().splitlines()]
    assert [p["text"].split(" the quality gate")[0].rsplit(" ", 1)[-1] for p in posts] == [
        "passed",
        "passed",
        "failed",
    ]


def test_a_malformed_metrics_file_is_rejected_on_the_emulators(profile, firestore_db):
    event = upload_event(profile["bucket"], "fraud/v1/metrics.json", b'{"auc": NaN}')
    result = Replayer().deliver(function_named("evaluate_model"), delivery_from_document(event), label="nan")
    assert (result.outcome, result.http_status) == ("rejected", 200)
    assert "metrics.json.auc: is NaN" in result.detail
    assert FirestoreRegistryStore(firestore_rest(firestore_db)).aliases("fraud", profile["env"]) == []


def _reconcile_run(bucket: str) -> dict:
    """The daily scheduler job's Pub/Sub push, naming the test's bucket (the emulator holds other tests' too)."""
    document = json.loads((EVENTS / "scheduler" / "reconcile-registry.structured.json").read_text())
    document["data"]["message"]["data"] = base64.b64encode(json.dumps({"buckets": [bucket]}).encode()).decode()
    return document


def test_a_lost_metrics_event_is_decided_by_the_daily_reconcile_on_the_emulators(profile, firestore_db):
    replayer = Replayer()
    env, bucket = profile["env"], profile["bucket"]
    # GIVEN v1 decided by its event; v2's metrics uploaded, its event lost, and v0's unreadable, its event lost
    replayer.deliver(
        function_named("evaluate_model"),
        delivery_from_document(upload_event(bucket, "fraud/v1/metrics.json", b'{"auc": 0.91}')),
        label="v1",
    )
    v2 = upload_event(bucket, "fraud/v2/metrics.json", b'{"auc": 0.95}')
    upload_event(bucket, "fraud/v0/metrics.json", b'{"accuracy": 0.9}')

    # WHEN the daily reconcile runs, twice
    reconcile = function_named("reconcile_registry")
    first = replayer.deliver(reconcile, delivery_from_document(_reconcile_run(bucket.name)), label="reconcile")
    second = replayer.deliver(reconcile, delivery_from_document(_reconcile_run(bucket.name)), label="again")

    # THEN the first decides v2 against champion v1 and promotes it, records v0 as rejected, and fails nothing
    assert first.outcome == "applied", first.detail
    assert (
        "made up 1 missed gate decisions, finished 0 interrupted ones and recorded 1 unreadable metrics files"
        in first.detail
    )
    firestore = FirestoreRegistryStore(firestore_rest(firestore_db))
    got = [(d.version, d.passed, d.champion_version) for d in firestore.decisions("fraud", env)]
    assert got == [(0, False, None), (1, True, None), (2, True, 1)]
    assert "metrics.json.auc" in firestore.decisions("fraud", env)[0].reason
    assert {a.alias: a.version for a in firestore.aliases("fraud", env)} == {"candidate": 2, "champion": 2}
    # AND the second does nothing, and v2's late event is a duplicate: one post per decision taken
    assert second.outcome == "ignored", second.detail
    late = replayer.deliver(function_named("evaluate_model"), delivery_from_document(v2), label="late v2")
    assert late.outcome == "duplicate"
    assert len(profile["outbox"].read_text().splitlines()) == 2
