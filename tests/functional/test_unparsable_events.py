"""Bodies the framework itself cannot read, and fields that cannot be what they claim, through the real apps.

GIVEN a request to a CloudEvent function whose body is no CloudEvent (a JSON array or string, JSON nested
past the parser's depth, bytes that are not UTF-8), or an event whose object name holds a control
character, or a drift job whose URI leaves the bucket
WHEN the functions-framework app receives it, in structured and binary mode
THEN it is `rejected`, answered 2xx (acknowledged: Pub/Sub and Eventarc would otherwise redeliver it
until it is dead-lettered), its outcome line logged, and nothing is written; while a failure inside our
own handling still answers 500, so that the platform redelivers it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from functions_framework import create_app

from handlers import register_model as register_use_case
from shared.errors import TransientError
from shared.log import OUTCOME_LOGGER_NAME
from tooling.manifest import REPO_ROOT, function_named

CLOUD_EVENT_FUNCTIONS = ("register_model", "budget_alert", "monitoring_alert", "drift_report", "reconcile_registry")
DEEP = b"[" * 200_000 + b"]" * 200_000
UNREADABLE = {
    "json array": b"[1, 2, 3]",
    "json string": b'"a string"',
    "json number": b"42",
    "deeply nested": DEEP,
    "not utf-8": b"\xff\xfe\x00garbage",
}


def client(name: str):
    spec = function_named(name)
    return create_app(spec.entry_point, str(spec.source_path), "cloudevent").test_client()


def outcome_messages(caplog, capsys) -> list[str]:
    """The outcome lines logged, wherever the process's logging sent them (its JSON handler or pytest's)."""
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    lines = [line["message"] for line in printed if line.get("logger") == OUTCOME_LOGGER_NAME]
    return lines or [r.getMessage() for r in caplog.records if r.name == OUTCOME_LOGGER_NAME]


def written(state: Path) -> set[str]:
    """Every file under the state dir but the seeded buckets: what an event may have changed."""
    return {p.relative_to(state).as_posix() for p in state.rglob("*") if p.is_file() and "buckets" not in p.parts}


@pytest.mark.parametrize("name", CLOUD_EVENT_FUNCTIONS)
@pytest.mark.parametrize("body", list(UNREADABLE), ids=list(UNREADABLE))
@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_a_body_the_framework_cannot_read_is_rejected_and_acknowledged(state_dir, caplog, capsys, name, body, mode):
    headers = {"Content-Type": "application/cloudevents+json"}
    if mode == "binary":
        headers = {
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": "hostile-1",
            "ce-source": "//test",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        }
    before = written(state_dir)

    response = client(name).post("/", data=UNREADABLE[body], headers=headers)

    # Binary mode is a CloudEvent whose data is no event of ours: our parser rejects it; structured mode
    # is no CloudEvent at all: the framework boundary does. Either way one rejected line, acknowledged.
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    outcomes = outcome_messages(caplog, capsys)
    assert len(outcomes) == 1 and outcomes[0].startswith(f"{name}: rejected: "), outcomes
    assert written(state_dir) == before


@pytest.mark.parametrize("name", CLOUD_EVENT_FUNCTIONS)
@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"Content-Type": "application/cloudevents+json"}, b"{" + b" " * (16 * 2**20) + b"}", "16 MiB limit"),
        ({"Content-Type": "text/plain"}, b"hello", "no event comes with its content type"),
        ({}, b'{"id": "1"}', "no event comes with its content type"),
    ],
    ids=["over 16 MiB", "text/plain", "no content type"],
)
def test_a_body_refused_for_its_size_or_type_is_rejected_and_acknowledged(
    state_dir, caplog, capsys, name, headers, body, reason
):
    # Pub/Sub and Eventarc redeliver a 413 or 415 like any non-2xx: it must be acknowledged to end.
    before = written(state_dir)
    response = client(name).post("/", data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    outcomes = outcome_messages(caplog, capsys)
    assert len(outcomes) == 1 and outcomes[0].startswith(f"{name}: rejected: body: ") and reason in outcomes[0]
    assert written(state_dir) == before


def test_a_failure_inside_our_handling_still_answers_500_for_redelivery(state_dir, monkeypatch):
    def down(*_args, **_kwargs):
        raise TransientError("the registry is down")

    monkeypatch.setattr(register_use_case, "handle", down)
    fixture = json.loads((REPO_ROOT / "events/storage/01-finalized-safetensors.structured.json").read_text())

    response = client("register_model").post(
        "/", data=json.dumps(fixture), headers={"Content-Type": "application/cloudevents+json"}
    )

    assert response.status_code == 500


@pytest.mark.parametrize("name", ["model\x00.safetensors", "model\x1b[31m.safetensors", "model\x7f.bin"])
def test_an_object_name_with_a_control_character_is_rejected_naming_it(state_dir, name):
    fixture = json.loads((REPO_ROOT / "events/storage/01-finalized-safetensors.structured.json").read_text())
    fixture["data"]["name"] = f"fraud-detector/v1/{name}"
    fixture["subject"] = f"objects/{fixture['data']['name']}"
    before = written(state_dir)

    response = client("register_model").post(
        "/", data=json.dumps(fixture), headers={"Content-Type": "application/cloudevents+json"}
    )

    assert response.status_code == 200
    assert written(state_dir) == before


@pytest.mark.parametrize(
    "uri",
    ["gs://ml-drift-dev//etc/passwd", "gs://ml-drift-dev/a/./b.parquet", "gs://ml-drift-dev/a/../../x", "gs://b/a\x00"],
)
def test_a_drift_uri_that_leaves_the_bucket_is_rejected_naming_it(state_dir, uri):
    spec = function_named("drift_report_http")
    http = create_app(spec.entry_point, str(spec.source_path), "http").test_client()
    body = {"model": "fraud-detector", "env": "dev", "reference": {"uri": uri}, "current": {"uri": uri}}

    response = http.post("/", json=body)

    assert response.status_code == 422
    assert json.loads(response.get_data())["detail"].startswith("reference.uri:")
