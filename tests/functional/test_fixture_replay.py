"""Every saved event replayed through the real functions-framework app, in every delivery mode."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from functions_framework import create_app

from tooling.delivery import HttpDelivery, delivery_from_fixture
from tooling.event_routes import function_for
from tooling.manifest import REPO_ROOT, function_named, load_manifest
from tooling.replay import Replayer

EVENTS = REPO_ROOT / "events"
EXPECTED = yaml.safe_load((EVENTS / "expected.yaml").read_text())
FIXTURES = sorted(p for spec in load_manifest() for p in spec.fixture_files())


def as_other_mode(path: Path) -> HttpDelivery | None:
    """The same event in the other CloudEvent mode: structured <-> binary. None where none exists."""
    document = json.loads(path.read_text())
    if "specversion" in document:
        headers = {"Content-Type": document.get("datacontenttype", "application/json")}
        headers.update({f"ce-{k}": str(v) for k, v in document.items() if k not in {"data", "datacontenttype"}})
        return HttpDelivery(headers, json.dumps(document.get("data")).encode(), "binary", document["type"])
    if "headers" in document and "ce-id" in document["headers"] and "body" in document:
        attributes = {k[3:]: v for k, v in document["headers"].items() if k.startswith("ce-")}
        structured = {**attributes, "datacontenttype": document["headers"]["Content-Type"], "data": document["body"]}
        return HttpDelivery(
            {"Content-Type": "application/cloudevents+json"}, json.dumps(structured).encode(), "structured", None
        )
    return None


def test_every_fixture_has_an_expected_outcome_and_every_expectation_a_fixture():
    named = {p.relative_to(EVENTS).as_posix() for p in FIXTURES}
    assert named == set(EXPECTED)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_fixture_as_saved(fixture, state_dir):
    expected = EXPECTED[fixture.relative_to(EVENTS).as_posix()]
    result = Replayer().replay_file(fixture)
    # A Lambda is invoked, not sent an HTTP request: it has no status to check.
    http = function_for(fixture, None).platform != "aws-lambda"
    assert (result.outcome, result.http_status) == (expected["outcome"], expected.get("status", 200) if http else None)
    assert expected["detail"] in result.detail


@pytest.mark.parametrize("fixture", [f for f in FIXTURES if as_other_mode(f)], ids=lambda p: p.name)
def test_fixture_in_the_other_cloudevent_mode(fixture, state_dir):
    expected = EXPECTED[fixture.relative_to(EVENTS).as_posix()]
    delivery = as_other_mode(fixture)
    spec = function_for(fixture, None)
    result = Replayer().deliver(spec, delivery, label=fixture.name)
    assert result.outcome == expected["outcome"]
    assert expected["detail"] in result.detail


def test_the_app_acks_a_rejection_and_writes_nothing(state_dir):
    # GIVEN the real app of register_model, as functions-framework serves it
    spec = function_named("register_model")
    client = create_app(spec.entry_point, str(spec.source_path), "cloudevent").test_client()
    bad = delivery_from_fixture(EVENTS / "storage/21-malformed-generation.binary.json")

    # WHEN a malformed event arrives
    response = client.post("/", headers=bad.headers, data=bad.body)

    # THEN it is acknowledged (no redelivery of bad input) and nothing reaches the registry
    assert response.status_code == 200
    registry = state_dir / "registry.sqlite"
    if registry.exists():
        assert sqlite3.connect(registry).execute("SELECT COUNT(*) FROM models").fetchone()[0] == 0
    idempotency = state_dir / "idempotency.sqlite"
    if idempotency.exists():
        assert sqlite3.connect(idempotency).execute("SELECT COUNT(*) FROM idempotency").fetchone()[0] == 0


def test_a_delivery_racing_another_answers_500_so_the_platform_redelivers(state_dir):
    # GIVEN another delivery of the same event holds the claim (it is still registering)
    from datetime import UTC, datetime

    from shared.adapters.sqlite_idempotency import SqliteIdempotencyStore

    fixture = EVENTS / "storage/01-finalized-safetensors.structured.json"
    data = json.loads(fixture.read_text())["data"]
    key = f"finalized:{data['bucket']}/{data['name']}#{data['generation']}"
    claims = SqliteIdempotencyStore(state_dir / "idempotency.sqlite")
    claims.claim(key, now=datetime.now(UTC), expires_in_s=600)

    # WHEN this delivery arrives, it is answered 500 (retry) and registers nothing
    raced = Replayer().replay_file(fixture)
    assert (raced.outcome, raced.http_status) == ("retry", 500)
    assert "another delivery" in raced.detail

    # THEN once the other delivery gives the claim back, the redelivery registers the model
    claims.release(key)
    assert Replayer().replay_file(fixture).outcome == "applied"
