"""Each platform's log shape, on the lines the functions really write.

GIVEN an event delivered to a GCP function with a trace header (HTTP `traceparent`, Google's
`X-Cloud-Trace-Context`, or Eventarc's `traceparent` CloudEvent attribute in binary mode), and an
EventBridge event delivered to the rollout Lambda with a Lambda context
WHEN the function handles it
THEN the GCP outcome line carries `logging.googleapis.com/trace` naming the project and the trace (so
Cloud Logging groups a request's lines), and no trace field when the request had none; the Lambda's
outcome line is powertools' CloudWatch shape (level, function_request_id, cold_start, correlation_id =
the event id) with the outcome's fields at its top level and `logger` by which it is found.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
from functions_framework import create_app

from shared.log import OUTCOME_LOGGER_NAME, JsonFormatter
from tooling.local_lambda import invoke
from tooling.manifest import REPO_ROOT, function_named

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PROJECT = "trace-test-project"


@pytest.fixture
def outcome_lines():
    """The outcome lines as the function's JSON handler formats them, in the request's context."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(OUTCOME_LOGGER_NAME)
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def _fixture(path: str) -> dict:
    return json.loads((REPO_ROOT / path).read_text())


def _post(name: str, fixture: dict, extra_headers: dict[str, str]):
    spec = function_named(name)
    client = create_app(spec.entry_point, str(spec.source_path), spec.signature).test_client()
    headers = dict(fixture.get("headers") or {"Content-Type": "application/cloudevents+json"}) | extra_headers
    body = fixture["body"] if "body" in fixture and "headers" in fixture else fixture
    return client.post("/", data=json.dumps(body), headers=headers)


@pytest.mark.parametrize(
    ("fixture", "headers", "span", "sampled"),
    [
        (
            "events/budget/02-actual-50.structured.json",
            {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
            "00f067aa0ba902b7",
            True,
        ),
        (
            "events/budget/03-actual-50-again.binary.json",
            {"X-Cloud-Trace-Context": f"{TRACE}/17;o=0"},
            "0000000000000011",
            False,
        ),
        (
            "events/budget/03-actual-50-again.binary.json",
            {"ce-traceparent": f"00-{TRACE}-00000000000000aa-01"},
            "00000000000000aa",
            True,
        ),
    ],
    ids=["structured-traceparent", "binary-cloud-trace-context", "binary-cloudevent-attribute"],
)
def test_gcp_outcome_line_carries_the_requests_trace(
    state_dir, monkeypatch, outcome_lines, fixture, headers, span, sampled
):
    monkeypatch.setenv("MLOPS_EVENTS_GCP_PROJECT", PROJECT)
    answer = _post("budget_alert", _fixture(fixture), headers)
    assert answer.status_code < 300
    (line,) = outcome_lines()
    assert line["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE}"
    assert line["logging.googleapis.com/spanId"] == span
    assert line["logging.googleapis.com/trace_sampled"] is sampled
    assert line["severity"] in {"INFO", "WARNING"}


def test_gcp_http_function_line_carries_the_trace_and_a_hostile_header_is_no_trace(
    state_dir, monkeypatch, outcome_lines
):
    monkeypatch.setenv("MLOPS_EVENTS_GCP_PROJECT", PROJECT)
    fixture = _fixture("events/drift/21-malformed-uri.http.json")
    _post("drift_report_http", fixture, {"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"})
    _post("drift_report_http", fixture, {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01\u2028<!channel>"})
    first, second = outcome_lines()
    assert first["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE}"
    assert not any(key.startswith("logging.googleapis.com/") for key in second)


def test_gcp_line_without_a_trace_header_has_no_trace_field(state_dir, monkeypatch, outcome_lines):
    monkeypatch.setenv("MLOPS_EVENTS_GCP_PROJECT", PROJECT)
    _post("budget_alert", _fixture("events/budget/02-actual-50.structured.json"), {})
    (line,) = outcome_lines()
    assert not any(key.startswith("logging.googleapis.com/") for key in line)


def test_lambda_outcome_line_is_powertools_cloudwatch_shape(state_dir, outcome_lines):
    event = _fixture("events/ecr/09-delete.json")
    result = invoke(function_named("ecr_rollout"), event)
    lines = outcome_lines()
    (line,) = [line for line in lines if line.get("logger") == OUTCOME_LOGGER_NAME]
    assert line["level"] == "INFO" and "severity" not in line
    assert line["correlation_id"] == event["id"] == line["event_id"]
    assert line["function_name"] == "ecr_rollout" and line["function_request_id"]
    assert isinstance(line["cold_start"], bool)
    assert line["outcome"] == result["outcome"] == "ignored"
    assert line["service"] == "ecr_rollout"
