"""The local cloud's small parts, one table at a time: retry policies, trigger conversion (checked against the
real functions-framework apps), the outcome log reader, the scheduler loop, the provisioning plan and the
Lambda's on-failure record."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.local_object_store import LocalObjectStore
from shared.errors import ConfigError
from shared.log import OUTCOME_LOGGER_NAME
from tooling.demo import seed_local_buckets
from tooling.fixture_factory import ecr_image_action_event
from tooling.localcloud import provision
from tooling.localcloud.cron import CronSchedule
from tooling.localcloud.dispatch import DeliveryResult
from tooling.localcloud.ecr_bridge import failure_record
from tooling.localcloud.emulators import EmulatorError, start_together
from tooling.localcloud.function_env import FunctionEnvironment
from tooling.localcloud.outcome_log import OutcomeLog
from tooling.localcloud.retry import DAY_S, retry_policy
from tooling.localcloud.routes import push_converter, request_timeout_s
from tooling.localcloud.schedules import Job, Scheduler, pubsub_payload
from tooling.localcloud.triggers import Message, push_request, scheduler_http_request, storage_event
from tooling.manifest import REPO_ROOT, FunctionSpec, function_named, load_manifest
from tooling.replay import _outcome_lines, http_result

SPECS = load_manifest()


def retry_of(function: str) -> dict[str, Any]:
    return function_named(function, SPECS).retry


# -- retry ----------------------------------------------------------------------------------------
# (function whose manifest retry block is used, scale, failed attempts -> expected wait in seconds)
BACKOFFS = [
    # Eventarc's GCS trigger: 10 s doubling, capped at 600 s
    ("register_model", 1.0, [1, 2, 3, 4, 5, 6, 7, 8, 50], [10, 20, 40, 80, 160, 320, 600, 600, 600]),
    # Pub/Sub push subscription: 60 s doubling, capped at 600 s
    ("reconcile_registry", 1.0, [1, 2, 3, 4, 5], [60, 120, 240, 480, 600]),
    ("budget_alert", 1.0, [1, 2, 6, 20], [10, 20, 320, 600]),
    # Cloud Scheduler's HTTP job retry config
    ("drift_report_http", 1.0, [1, 2, 3], [60, 120, 240]),
    # Lambda async invocation: about a minute, then about two
    ("ecr_rollout", 1.0, [1, 2], [60, 120]),
    # scale shrinks every wait, cap included
    ("register_model", 0.01, [1, 2, 7, 8], [0.1, 0.2, 6.0, 6.0]),
    ("ecr_rollout", 0.01, [1, 2], [0.6, 1.2]),
]


@pytest.mark.parametrize(("function", "scale", "failed", "waits"), BACKOFFS)
def test_backoff_doubles_from_min_to_max(function, scale, failed, waits):
    policy = retry_policy(retry_of(function), scale=scale)
    assert [policy.backoff_s(n) for n in failed] == pytest.approx(waits)


def test_backoff_stays_capped_for_a_very_long_retry_streak():
    # GIVEN a policy with no attempt count (Eventarc): only the event's age ends it, so counts grow large
    policy = retry_policy({"min_backoff_s": 0.001, "max_backoff_s": 0.01, "max_attempts": None}, scale=1.0)

    # WHEN it has failed thousands of times THEN the wait is still the maximum (no float overflow)
    assert policy.backoff_s(5_000) == pytest.approx(0.01)
    assert not policy.gives_up(5_000, 60.0)


# (function, scale, failed attempts, age of the event in s, gives up?)
GIVE_UPS = [
    # Pub/Sub: the count decides, the dead-letter topic takes it on the 5th failure
    ("reconcile_registry", 1.0, 4, 0.0, False),
    ("reconcile_registry", 1.0, 5, 0.0, True),
    ("budget_alert", 1.0, 19, 3600.0, False),
    ("budget_alert", 1.0, 20, 0.0, True),
    # scale changes the waits, never the count
    ("reconcile_registry", 0.01, 4, 0.0, False),
    ("reconcile_registry", 0.01, 5, 0.0, True),
    ("drift_report_http", 1.0, 2, 0.0, False),
    ("drift_report_http", 1.0, 3, 0.0, True),
    # Eventarc (no count, reconciled_by): never by count, only once the next try would be past 24 h
    ("register_model", 1.0, 1, 0.0, False),
    ("register_model", 1.0, 500, 0.0, False),
    ("register_model", 1.0, 500, DAY_S - 601, False),
    ("register_model", 1.0, 500, DAY_S - 599, True),
    ("register_model", 1.0, 1, DAY_S - 11, False),
    ("register_model", 1.0, 1, DAY_S - 9, True),
    # ... and its 24 h shrink with the scale
    ("register_model", 0.01, 500, 0.01 * DAY_S - 7, False),
    ("register_model", 0.01, 500, 0.01 * DAY_S - 5, True),
    # Lambda async: three invocations in all, within the manifest's max event age (3600 s)
    ("ecr_rollout", 1.0, 1, 0.0, False),
    ("ecr_rollout", 1.0, 2, 0.0, False),
    ("ecr_rollout", 1.0, 3, 0.0, True),
    ("ecr_rollout", 1.0, 1, 3600 - 59, True),
    ("ecr_rollout", 0.01, 2, 0.0, False),
    ("ecr_rollout", 0.01, 3, 0.0, True),
]


@pytest.mark.parametrize(("function", "scale", "failed", "age_s", "expected"), GIVE_UPS)
def test_gives_up_as_the_platform_does(function, scale, failed, age_s, expected):
    assert retry_policy(retry_of(function), scale=scale).gives_up(failed, age_s) is expected


@pytest.mark.parametrize(
    ("function", "policy", "max_attempts", "max_age_s"),
    [
        ("register_model", "retry_on_failure", None, DAY_S),  # reconciled_by: Eventarc's 24 h
        ("reconcile_registry", "retry_on_failure", 5, 7 * DAY_S),
        ("budget_alert", "retry_on_failure", 20, 7 * DAY_S),
        ("drift_report_http", "scheduler", 3, DAY_S),
        ("ecr_rollout", "lambda_async", 3, 3600.0),
    ],
)
def test_manifest_retry_blocks_become_policies(function, policy, max_attempts, max_age_s):
    parsed = retry_policy(retry_of(function))
    assert (parsed.policy, parsed.max_attempts, parsed.max_age_s) == (policy, max_attempts, max_age_s)


# (the retry block, the deliveries the policy allows): Pub/Sub's max_delivery_attempts is 5..100, and
# Terraform's gcp-function module clamps the manifest's count into it where there is a dead-letter topic.
CLAMPS = [
    ({"max_attempts": 2, "dead_letter_topic": "dl"}, 5),
    ({"max_attempts": 5, "dead_letter_topic": "dl"}, 5),
    ({"max_attempts": 42, "dead_letter_topic": "dl"}, 42),
    ({"max_attempts": 100, "dead_letter_topic": "dl"}, 100),
    ({"max_attempts": 500, "dead_letter_topic": "dl"}, 100),
    # no count: Terraform's `max_attempts = optional(number, 5)` makes it 5 (a null too)
    ({"max_attempts": None, "dead_letter_topic": "dl"}, 5),
    # no dead-letter topic: no dead-letter policy, nothing to clamp
    ({"max_attempts": 2}, 2),
    ({"max_attempts": 500}, 500),
    # other policies are not Pub/Sub's: Lambda's and Cloud Scheduler's counts stay as written
    ({"policy": "lambda_async", "max_attempts": 2, "dead_letter_topic": "q"}, 2),
    ({"policy": "scheduler", "max_attempts": 2, "dead_letter_topic": "dl"}, 2),
]


@pytest.mark.parametrize(("retry", "max_attempts"), CLAMPS)
def test_pubsub_dead_letter_attempts_are_clamped_to_pubsub_bounds(retry, max_attempts):
    policy = retry_policy({"policy": "retry_on_failure", **retry})
    assert policy.max_attempts == max_attempts
    if max_attempts is not None:
        assert not policy.gives_up(max_attempts - 1, 0.0)
        assert policy.gives_up(max_attempts, 0.0)


def test_manifest_max_attempts_match_the_terraform_clamp():
    terraform = (REPO_ROOT / "terraform" / "modules" / "gcp-function" / "main.tf").read_text()
    assert "max_delivery_attempts = min(100, max(5, var.retry.max_attempts))" in terraform
    for spec in SPECS:
        retry = spec.retry
        if retry.get("policy", "retry_on_failure") == "retry_on_failure" and retry.get("dead_letter_topic"):
            expected = min(100, max(5, retry["max_attempts"]))
            assert retry_policy(retry).max_attempts == expected, spec.name


def test_do_not_retry_gives_up_at_once():
    assert retry_policy({"policy": "do_not_retry"}).gives_up(1, 0.0)


@pytest.mark.parametrize(
    ("retry", "scale", "message"),
    [
        ({"policy": "exponential"}, 1.0, "unknown retry policy 'exponential'"),
        ({"policy": "retry_on_failure"}, 0.0, "backoff scale must be positive"),
        ({"policy": "retry_on_failure"}, -0.5, "backoff scale must be positive"),
    ],
)
def test_bad_retry_configuration_is_a_config_error(retry, scale, message):
    with pytest.raises(ConfigError, match=message):
        retry_policy(retry, scale=scale)


# -- triggers: conversion -------------------------------------------------------------------------
GENERATION = "1793617200000000"


def gcs_notification(
    event_type: str = "OBJECT_FINALIZE",
    *,
    bucket: str = "ml-models-dev",
    name: str = "fraud-detector/v1/model.safetensors",
    message_id: str = "4242",
    data: bytes | None = None,
    **extra: str,
) -> Message:
    """A notification as fake-gcs-server publishes it (the GCS JSON_API_V1 format)."""
    resource = {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{GENERATION}",
        "name": name,
        "bucket": bucket,
        "generation": GENERATION,
        "metageneration": "1",
        "contentType": "application/octet-stream",
        "size": "196",
        "timeCreated": "2026-11-02T09:30:00.000000Z",
        "updated": "2026-11-02T09:30:00.000000Z",
        "metadata": {"uploader": "ci"},
    }
    attributes = {
        "eventType": event_type,
        "bucketId": bucket,
        "objectId": name,
        "objectGeneration": GENERATION,
        "payloadFormat": "JSON_API_V1",
        "eventTime": "2026-11-02T09:30:01.000000Z",
        "notificationConfig": "projects/_/buckets/ml-models-dev/notificationConfigs/1",
        **extra,
    }
    body = json.dumps(resource).encode() if data is None else data
    return Message(message_id, body, attributes, datetime(2026, 11, 2, 9, 30, 2, tzinfo=UTC))


@pytest.mark.parametrize(
    ("gcs_type", "ce_type", "extra"),
    [
        ("OBJECT_FINALIZE", "google.cloud.storage.object.v1.finalized", {"overwroteGeneration": "1793611800000000"}),
        ("OBJECT_DELETE", "google.cloud.storage.object.v1.deleted", {"overwrittenByGeneration": "1793620000000000"}),
        ("OBJECT_ARCHIVE", "google.cloud.storage.object.v1.archived", {}),
        ("OBJECT_METADATA_UPDATE", "google.cloud.storage.object.v1.metadataUpdated", {}),
    ],
)
def test_gcs_notification_becomes_the_eventarc_binary_cloudevent(gcs_type, ce_type, extra):
    # GIVEN a notification for gs://ml-models-dev/fraud-detector/v1/model.safetensors
    message = gcs_notification(gcs_type, **extra)

    # WHEN converted
    converted = storage_event(message)

    # THEN it is the CloudEvent Eventarc posts in binary mode, the resource as its body
    assert converted is not None
    bucket, event_type, request = converted
    assert (bucket, event_type) == ("ml-models-dev", ce_type)
    headers = request.headers
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-type"] == ce_type
    assert headers["ce-id"] == "4242" == request.event_id
    assert headers["ce-source"] == "//storage.googleapis.com/projects/_/buckets/ml-models-dev"
    assert headers["ce-subject"] == "objects/fraud-detector/v1/model.safetensors"
    assert headers["ce-bucket"] == "ml-models-dev"
    assert headers["ce-time"] == "2026-11-02T09:30:01.000000Z"  # the notification's eventTime, not `updated`
    assert headers["Content-Type"].startswith("application/json")
    assert request.path == "/"
    assert json.loads(request.body) == json.loads(message.data)
    assert GENERATION in request.subject


def test_a_delete_happens_at_its_event_time_not_at_the_objects_last_update():
    # GIVEN the delete notification of an object uploaded at 09:30:00, deleted an hour later
    message = gcs_notification("OBJECT_DELETE", eventTime="2026-11-02T10:31:07.000000Z")
    assert json.loads(message.data)["updated"] == "2026-11-02T09:30:00.000000Z"

    # WHEN converted THEN the CloudEvent's time is when the delete happened
    converted = storage_event(message)
    assert converted is not None
    assert converted[2].headers["ce-time"] == "2026-11-02T10:31:07.000000Z"


def test_event_time_is_the_notification_then_the_publish_time():
    resource = {"name": "m/v1/model.onnx", "bucket": "ml-models-dev", "generation": "7", "updated": "2020-01-01"}
    with_event_time = gcs_notification(name="m/v1/model.onnx", data=json.dumps(resource).encode())
    converted = storage_event(with_event_time)
    assert converted is not None and converted[2].headers["ce-time"] == "2026-11-02T09:30:01.000000Z"

    attributes = {k: v for k, v in with_event_time.attributes.items() if k != "eventTime"}
    bare = Message("1", with_event_time.data, attributes, datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    converted = storage_event(bare)
    assert converted is not None and converted[2].headers["ce-time"] == "2026-11-02T10:00:00.000000Z"


def _without(message: Message, attribute: str) -> Message:
    return Message(message.message_id, message.data, {k: v for k, v in message.attributes.items() if k != attribute})


NOT_NOTIFICATIONS = {
    "no eventType": _without(gcs_notification(), "eventType"),
    "unknown eventType": gcs_notification("OBJECT_TELEPORT"),
    "no bucketId": _without(gcs_notification(), "bucketId"),
    "no objectId": _without(gcs_notification(), "objectId"),
    "NONE payload format": gcs_notification(payloadFormat="NONE", data=b""),
    "no payload format": _without(gcs_notification(), "payloadFormat"),
    "data not JSON": gcs_notification(data=b"{not json"),
    "data empty": gcs_notification(data=b""),
    "data a JSON array": gcs_notification(data=b"[1, 2]"),
    "data a JSON string": gcs_notification(data=b'"fraud-detector/v1/model.safetensors"'),
    "data JSON null": gcs_notification(data=b"null"),
    "a budget message": Message("9", b'{"costAmount": 1}', {"budgetId": "b", "schemaVersion": "1.0"}),
}


@pytest.mark.parametrize("message", NOT_NOTIFICATIONS.values(), ids=NOT_NOTIFICATIONS.keys())
def test_a_message_that_is_no_gcs_notification_is_not_converted(message):
    assert storage_event(message) is None


def test_push_request_is_the_wrapped_push_body_on_the_topic_path():
    # GIVEN a message with data and attributes
    published = datetime(2026, 11, 20, 8, 20, tzinfo=UTC)
    message = Message("77", b'{"a": 1}', {"budgetId": "b-1", "schemaVersion": "1.0"}, published)

    # WHEN it becomes the push subscription's request
    request = push_request(message, project="P", topic="T", subscription="fn-push")

    # THEN the body is Pub/Sub's wrapped push format, posted to /projects/P/topics/T
    assert request.path == "/projects/P/topics/T"
    body = json.loads(request.body)
    assert body["subscription"] == "projects/P/subscriptions/fn-push"
    wrapped = body["message"]
    assert base64.b64decode(wrapped["data"]) == b'{"a": 1}'
    assert wrapped["attributes"] == {"budgetId": "b-1", "schemaVersion": "1.0"}
    assert wrapped["messageId"] == wrapped["message_id"] == "77" == request.event_id
    assert wrapped["publishTime"] == "2026-11-20T08:20:00.000000Z"
    assert request.event_type == "google.cloud.pubsub.topic.v1.messagePublished"
    assert "deliveryAttempt" not in body  # only a subscription with a dead-letter policy sends it
    bare = push_request(Message("78", b"x"), project="P", topic="T", subscription="s")
    assert "attributes" not in json.loads(bare.body)["message"]  # Pub/Sub omits an empty map


def test_push_request_carries_the_delivery_attempt_when_given():
    message = Message("77", b"{}", {}, datetime(2026, 11, 20, 8, 20, tzinfo=UTC))
    request = push_request(message, project="P", topic="T", subscription="fn-push", delivery_attempt=3)
    body = json.loads(request.body)
    assert body["deliveryAttempt"] == 3
    assert body["subscription"] == "projects/P/subscriptions/fn-push"
    assert body["message"]["messageId"] == "77" == request.event_id


def pubsub_spec(retry: dict[str, Any]) -> FunctionSpec:
    trigger = {"kind": "pubsub", "topic": "billing-budget-alerts"}
    return FunctionSpec("budget_alert", "gcp-function", "functions/x.py", "x", "cloudevent", trigger, [], retry=retry)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # the manifest's push subscriptions all have a dead-letter topic: Pub/Sub sends the attempt
        (function_named("budget_alert", SPECS), [1, 2, 5]),
        (function_named("reconcile_registry", SPECS), [1, 2, 5]),
        (pubsub_spec({"max_attempts": 5, "dead_letter_topic": "dl"}), [1, 2, 5]),
        # without one, Pub/Sub does not count deliveries: no deliveryAttempt
        (pubsub_spec({"max_attempts": 5}), [None, None, None]),
        (pubsub_spec({}), [None, None, None]),
    ],
    ids=["budget_alert", "reconcile_registry", "dead-letter", "no-dead-letter", "no-retry-block"],
)
def test_push_converter_passes_the_delivery_attempt_only_with_a_dead_letter_topic(spec, expected):
    convert = push_converter(spec, "P")
    message = Message("77", b"{}", {}, datetime(2026, 11, 20, 8, 20, tzinfo=UTC))
    bodies = [json.loads(convert(message, attempt).body) for attempt in (1, 2, 5)]
    assert [body.get("deliveryAttempt") for body in bodies] == expected
    topic = spec.trigger["topic"]
    assert all(body["subscription"] == f"projects/P/subscriptions/{spec.name}-push" for body in bodies)
    assert convert(message, 1).path == f"/projects/P/topics/{topic}"


def test_scheduler_http_request_carries_the_job_and_schedule_time():
    # a zone-aware time in another zone, with a fraction: Cloud Scheduler sends whole seconds in UTC
    scheduled = datetime(2026, 11, 20, 7, 0, 0, 500_000, tzinfo=timezone(timedelta(hours=1)))
    request = scheduler_http_request("drift-report-http", {"model": "m"}, scheduled)
    assert request.headers["X-CloudScheduler-JobName"] == "drift-report-http"
    assert request.headers["X-CloudScheduler-ScheduleTime"] == "2026-11-20T06:00:00Z"
    assert request.event_id == "2026-11-20T06:00:00Z"
    assert request.headers["X-CloudScheduler"] == "true"
    assert request.headers["User-Agent"] == "Google-Cloud-Scheduler"
    assert json.loads(request.body) == {"model": "m"}
    assert "2026-11-20T06:00:00Z" in request.subject
    assert scheduler_http_request("j", None, scheduled).body == b""


def test_a_forced_scheduler_run_has_no_schedule_time():
    # GIVEN a forced run (`mlops-events trigger JOB`, Cloud Scheduler's "force run"): no schedule time
    request = scheduler_http_request("drift-report-http", {"model": "m"}, None)

    # THEN the job's name goes, the schedule time header does not, and there is no event id to match
    assert request.headers["X-CloudScheduler-JobName"] == "drift-report-http"
    assert "X-CloudScheduler-ScheduleTime" not in request.headers
    assert request.event_id == ""
    assert json.loads(request.body) == {"model": "m"}
    assert "run now" in request.subject


@pytest.mark.parametrize("schedule_time", [datetime(2026, 11, 20, 6, tzinfo=UTC), None])
def test_scheduler_http_request_sends_the_fixture_factory_call(schedule_time):
    from tooling.fixture_factory import scheduler_http_request as factory_call

    expected = factory_call("drift-report-http", {"model": "m"}, schedule_time=schedule_time)
    request = scheduler_http_request("drift-report-http", {"model": "m"}, schedule_time)
    assert request.headers == expected["headers"]
    assert json.loads(request.body) == expected["body"]


# -- triggers: through the real functions-framework apps ------------------------------------------
@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded profile whose local buckets hold the sample objects (as tests/functional's state_dir)."""
    state = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state))
    for variable in ("MLOPS_EVENTS_KUBECONFIG", "KUBECONFIG", "MLOPS_EVENTS_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(variable, raising=False)
    seed_local_buckets(LocalObjectStore(state / "buckets"))
    return state


def post_to(function: str, request) -> tuple[int, Any]:
    """POST a trigger's request to the function's real app; (HTTP status, what it did)."""
    from functions_framework import create_app

    spec = function_named(function, SPECS)
    client = create_app(spec.entry_point, str(spec.source_path), spec.signature).test_client()
    with _outcome_lines() as capture:
        response = client.post(request.path, headers=request.headers, data=request.body)
    result = http_result("trigger", function, capture.fields, response.status_code, response.get_data(as_text=True))
    return response.status_code, (result, capture.fields)


def seeded_generation(key: str) -> str:
    return json.loads((REPO_ROOT / "events" / "objects" / "index.json").read_text())[key]["generation"]


def test_converted_gcs_notification_is_registered_by_the_real_register_model(embedded):
    # GIVEN fake-gcs-server's notification for a model file that is in the (embedded) bucket
    name = "fraud-detector/v1/model.safetensors"
    generation = seeded_generation(f"ml-models-dev/{name}")
    resource = {"name": name, "bucket": "ml-models-dev", "generation": generation, "metageneration": "1"}
    converted = storage_event(gcs_notification(name=name, message_id="555", data=json.dumps(resource).encode()))
    assert converted is not None

    # WHEN the Eventarc request is posted to register_model's functions-framework app
    status, (result, lines) = post_to("register_model", converted[2])

    # THEN it parsed as a CloudEvent and registered that object version, logged under the message id
    assert status == 200
    assert (result.outcome, lines[-1]["event_id"]) == ("applied", "555")
    assert lines[-1]["key"] == f"ml-models-dev/{name}#{generation}"


@pytest.mark.parametrize("gcs_type", ["OBJECT_FINALIZE", "OBJECT_DELETE"])
def test_converted_notification_for_an_absent_object_is_an_event_register_model_understands(embedded, gcs_type):
    # GIVEN a notification for an object the embedded bucket does not hold
    converted = storage_event(gcs_notification(gcs_type, name="churn-model/v9/model.onnx", message_id="556"))
    assert converted is not None

    # WHEN posted to the real app
    status, (result, lines) = post_to("register_model", converted[2])

    # THEN functions-framework took it as a CloudEvent, and register_model logged its own word on it
    assert status == 200, result.detail
    assert lines, "register_model logged no outcome line"
    assert lines[-1]["event_id"] == "556"
    assert result.outcome in {"applied", "ignored", "duplicate"}
    assert lines[-1]["key"] == f"ml-models-dev/churn-model/v9/model.onnx#{GENERATION}"


def test_push_request_is_a_budget_notification_budget_alert_applies_once(embedded):
    # GIVEN the budget notification of events/budget/02-actual-50, as the Pub/Sub emulator gives it
    fixture = json.loads((REPO_ROOT / "events" / "budget" / "02-actual-50.structured.json").read_text())
    pushed = fixture["data"]["message"]
    message = Message(pushed["messageId"], base64.b64decode(pushed["data"]), pushed["attributes"])
    request = push_request(message, project="mlops-events-local", topic="billing-budget-alerts", subscription="s")

    # WHEN the push request reaches budget_alert's app, twice (at-least-once delivery)
    first_status, (first, _) = post_to("budget_alert", request)
    second_status, (second, _) = post_to("budget_alert", request)

    # THEN it posted one Slack message, and the redelivery is a duplicate
    assert (first_status, first.outcome) == (200, "applied"), first.detail
    assert (second_status, second.outcome) == (200, "duplicate"), second.detail
    outbox = (embedded / "slack-outbox.jsonl").read_text().splitlines()
    assert len(outbox) == 1


def test_scheduler_http_request_runs_drift_report_http_under_the_schedule_time(embedded):
    # GIVEN the drift-report-http job's request for its 06:00 run, with the manifest's payload
    spec = function_named("drift_report_http", SPECS)
    request = scheduler_http_request(
        "drift-report-http", spec.trigger["payload"], datetime(2026, 11, 20, 6, tzinfo=UTC)
    )

    # WHEN posted to the real HTTP function
    status, (result, lines) = post_to("drift_report_http", request)

    # THEN it ran, and its outcome line carries the schedule time as the event id (what OutcomeLog matches)
    assert status == 200, result.detail
    assert result.outcome == "applied"
    assert lines[-1]["event_id"] == request.event_id == "2026-11-20T06:00:00Z"
    assert lines[-1]["key"] == "drift:drift-report-http@2026-11-20T06:00:00+00:00"


# -- outcomes -------------------------------------------------------------------------------------
def outcome_line(event_id: str, outcome: str = "applied", logger: str = OUTCOME_LOGGER_NAME) -> str:
    return json.dumps({"severity": "INFO", "logger": logger, "event_id": event_id, "outcome": outcome}) + "\n"


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.write(text)


def test_outcome_log_ignores_what_was_logged_before_it_started(tmp_path):
    # GIVEN a log with an earlier run's outcome for e1
    path = tmp_path / "fn.log"
    append(path, outcome_line("e1", "rejected"))

    # WHEN the log is followed from now, and e1 is delivered again
    log = OutcomeLog(path)
    assert log.outcome_for("e1") is None
    append(path, outcome_line("e1", "duplicate"))

    # THEN only the new line counts
    assert log.outcome_for("e1")["outcome"] == "duplicate"


def test_outcome_log_of_a_file_not_yet_written_reads_from_its_start(tmp_path):
    path = tmp_path / "later.log"
    log = OutcomeLog(path)
    assert log.outcome_for("e1") is None
    append(path, outcome_line("e1"))
    assert log.outcome_for("e1")["outcome"] == "applied"


def test_outcome_log_reads_only_outcome_lines_among_other_output(tmp_path):
    # GIVEN a log mixing a Lambda runtime's plain lines, other loggers' JSON, broken JSON and outcome lines
    path = tmp_path / "fn.log"
    log = OutcomeLog(path)
    append(
        path,
        "START RequestId: 8f0c Version: $LATEST\n"
        + outcome_line("e1", "applied", logger="mlops_events.adapters")
        + '{"logger": "mlops_events.outcome", "event_id": "e2", broken\n'
        + '["logger", "mlops_events.outcome"]\n'
        + json.dumps({"logger": OUTCOME_LOGGER_NAME, "outcome": "applied"})  # no event id
        + "\n"
        + outcome_line("e3", "ignored")
        + "END RequestId: 8f0c\nREPORT RequestId: 8f0c Duration: 12.1 ms\n",
    )

    # THEN only the outcome logger's lines with an event id are found
    assert log.outcome_for("e1") is None
    assert log.outcome_for("e2") is None
    assert log.outcome_for("e3")["outcome"] == "ignored"


def test_outcome_log_reads_a_half_written_line_once_it_is_complete(tmp_path):
    path = tmp_path / "fn.log"
    log = OutcomeLog(path)
    line = outcome_line("e1", "applied")
    append(path, line[:25])
    assert log.outcome_for("e1") is None
    append(path, line[25:])
    assert log.outcome_for("e1")["outcome"] == "applied"


def test_outcome_for_takes_the_line_so_a_redelivery_reads_its_own(tmp_path):
    # GIVEN a first delivery that failed and was logged as retry
    path = tmp_path / "fn.log"
    log = OutcomeLog(path)
    append(path, outcome_line("e1", "retry"))
    assert log.outcome_for("e1")["outcome"] == "retry"

    # WHEN nothing new is logged, then the redelivery applies
    assert log.outcome_for("e1") is None
    append(path, outcome_line("e1", "applied"))

    # THEN the redelivery reads its own line; and of two lines the newest wins
    assert log.outcome_for("e1")["outcome"] == "applied"
    append(path, outcome_line("e2", "retry") + outcome_line("e2", "duplicate"))
    assert log.outcome_for("e2")["outcome"] == "duplicate"


# -- schedules ------------------------------------------------------------------------------------
def manifest_jobs() -> list[Job]:
    schedules = provision.plan(SPECS, project="p", envs=("dev",)).schedules
    return [
        Job(name, spec, CronSchedule.parse(spec.trigger["schedule"], spec.trigger.get("time_zone", "Etc/UTC")))
        for name, spec in schedules
    ]


T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


class SimulatedTime:
    """The scheduler's clock and its stop event in one: waiting moves the clock, so the loop runs in no time."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.waits: list[float] = []
        self._stopped = False

    def __call__(self) -> datetime:
        return self.now

    def is_set(self) -> bool:
        return self._stopped

    def set(self) -> None:
        self._stopped = True

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self.now += timedelta(seconds=timeout)
        return self._stopped


def test_scheduler_fires_due_jobs_in_order_each_next_fire_after_the_fired_one():
    # GIVEN the manifest's schedules on a simulated clock starting at midnight
    sim = SimulatedTime(T0)
    fired: list[tuple[str, datetime, datetime]] = []

    def fire(job: Job, when: datetime | None) -> None:
        assert when is not None  # a scheduled run always has its schedule time
        fired.append((job.name, when, sim.now))
        if len(fired) == 6:
            sim.set()

    # WHEN it runs through six fires
    Scheduler(manifest_jobs(), fire, clock=sim).run(sim)  # type: ignore[arg-type]

    # THEN each run fired once at its scheduled time, in time order, none early, none missed
    at = lambda hours, minutes=0: T0 + timedelta(hours=hours, minutes=minutes)  # noqa: E731
    assert [(name, when) for name, when, _ in fired] == [
        ("reconcile-registry", at(3, 17)),
        ("drift-report", at(6)),
        ("drift-report-http", at(6)),
        ("drift-report", at(12)),
        ("drift-report-http", at(12)),
        ("drift-report", at(18)),
    ]
    assert all(when <= clock_then < when + timedelta(seconds=1) for _, when, clock_then in fired)
    assert max(sim.waits) <= 60.0  # a changed clock is noticed within a minute


def test_scheduler_does_not_catch_up_runs_missed_while_the_clock_jumped():
    # GIVEN the drift-report job (06:00, 12:00, 18:00...) run normally until its 06:00 run
    jobs = [job for job in manifest_jobs() if job.name == "drift-report"]
    fired: list[tuple[datetime, datetime]] = []
    sim = SimulatedTime(T0)

    def fire(job: Job, when: datetime | None) -> None:
        assert when is not None
        fired.append((when, sim.now))
        if len(fired) == 1:
            sim.now = T0 + timedelta(days=1, hours=13)  # the laptop sleeps, and wakes the next day at 13:00
        if len(fired) == 2:
            sim.set()

    # WHEN it runs across the jump
    Scheduler(jobs, fire, clock=sim).run(sim)  # type: ignore[arg-type]

    # THEN the runs missed meanwhile (12:00 and 18:00, then the next day's 00:00, 06:00 and 12:00) never fire:
    # as Cloud Scheduler, the next run is the first one after now, on time
    next_day = T0 + timedelta(days=1)
    assert [when for when, _ in fired] == [T0 + timedelta(hours=6), next_day + timedelta(hours=18)]
    assert next_day + timedelta(hours=18) <= fired[1][1] < next_day + timedelta(hours=18, seconds=1)


def test_scheduler_does_not_fire_the_pending_run_when_it_wakes_long_after_it():
    # GIVEN the drift-report job waiting for its 12:00 run, on a laptop that sleeps from 07:00 to 13:00 next day
    jobs = [job for job in manifest_jobs() if job.name == "drift-report"]
    fired: list[datetime] = []
    sim = SimulatedTime(T0)
    wait = sim.wait

    def sleeping_wait(timeout: float) -> bool:
        stopped = wait(timeout)
        if T0 + timedelta(hours=7) <= sim.now < T0 + timedelta(hours=8):
            sim.now = T0 + timedelta(days=1, hours=13)
        return stopped

    sim.wait = sleeping_wait  # type: ignore[method-assign]

    def fire(job: Job, when: datetime | None) -> None:
        assert when is not None
        fired.append(when)
        if len(fired) == 2:
            sim.set()

    # WHEN it runs across the sleep
    Scheduler(jobs, fire, clock=sim).run(sim)  # type: ignore[arg-type]

    # THEN the missed 12:00 run does not fire on waking: the next run is the first one after now
    assert fired == [T0 + timedelta(hours=6), T0 + timedelta(days=1, hours=18)]


def test_scheduler_keeps_going_after_a_failed_run():
    # GIVEN a job whose first run fails (the emulator's publish raised, say)
    jobs = [job for job in manifest_jobs() if job.name == "drift-report"]
    sim = SimulatedTime(T0)
    fired: list[datetime | None] = []
    errors: list[tuple[str, Exception]] = []
    boom = RuntimeError("publish failed")

    def fire(job: Job, when: datetime | None) -> None:
        fired.append(when)
        if len(fired) == 1:
            raise boom
        if len(fired) == 3:
            sim.set()

    # WHEN it runs
    scheduler = Scheduler(jobs, fire, on_error=lambda job, exc: errors.append((job.name, exc)), clock=sim)
    scheduler.run(sim)  # type: ignore[arg-type]

    # THEN the failure is handed to on_error once, and the next runs fire on schedule
    assert errors == [("drift-report", boom)]
    assert fired == [T0 + timedelta(hours=6), T0 + timedelta(hours=12), T0 + timedelta(hours=18)]


def test_scheduler_stops_while_waiting_and_without_jobs():
    stopping = threading.Event()
    idle = Scheduler([], lambda job, when: None)
    idle.run(stopping)  # returns at once: nothing to schedule

    fired: list[str] = []
    waiting = Scheduler(manifest_jobs(), lambda job, when: fired.append(job.name), clock=lambda: T0)
    runner = threading.Thread(target=waiting.run, args=(stopping,), daemon=True)
    runner.start()
    time.sleep(0.05)
    stopping.set()
    runner.join(timeout=5)
    assert not runner.is_alive()
    assert fired == []


def test_run_now_is_a_forced_run_without_schedule_time_and_rejects_an_unknown_job():
    fired: list[tuple[str, datetime | None]] = []
    scheduler = Scheduler(manifest_jobs(), lambda job, when: fired.append((job.name, when)), clock=lambda: T0)
    assert scheduler.run_now("drift-report").spec.name == "drift_report"
    assert fired == [("drift-report", None)]
    with pytest.raises(KeyError):
        scheduler.run_now("no-such-job")
    assert fired == [("drift-report", None)]


def test_next_fire_times_follow_each_cron():
    scheduler = Scheduler(manifest_jobs(), lambda job, when: None, clock=lambda: T0 + timedelta(hours=6))
    assert scheduler.next_fire_times() == {
        "reconcile-registry": "2026-01-06T03:17:00+00:00",
        "drift-report": "2026-01-05T12:00:00+00:00",
        "drift-report-http": "2026-01-05T12:00:00+00:00",
    }


def test_pubsub_payload_is_the_manifest_payload_and_attributes():
    drift = function_named("drift_report", SPECS)
    data, attributes = pubsub_payload(drift)
    assert json.loads(data) == drift.trigger["payload"]
    assert attributes == {"scheduler_job": "drift-report"}

    data, attributes = pubsub_payload(function_named("reconcile_registry", SPECS))
    assert (json.loads(data), attributes) == ({}, {"scheduler_job": "reconcile-registry"})

    spec = FunctionSpec(
        name="job",
        platform="gcp-function",
        source="functions/x.py",
        entry_point="x",
        signature="cloudevent",
        trigger={"kind": "schedule", "topic": "t", "attributes": {"window_hours": 24, "scheduler_job": "j"}},
        fixtures=[],
    )
    assert pubsub_payload(spec) == (b"{}", {"window_hours": "24", "scheduler_job": "j"})


# -- provision.plan -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plan() -> provision.Plan:
    return provision.plan(SPECS, project="mlops-events-local", envs=("dev", "prod"))


def test_plan_buckets(plan):
    assert plan.buckets == {
        "ml-models-dev",
        "ml-models-prod",  # register_model's Eventarc filter, per env
        "ml-drift-logs-dev",
        "ml-drift-logs-prod",  # where drift reports are written
        "ml-drift-dev",  # read by the drift schedules' payload URIs
    }


def test_plan_topics_and_subscriptions(plan):
    assert plan.topics == {
        "gcs-object-notifications",
        "billing-budget-alerts",
        "monitoring-alerts",
        "reconcile-registry",
        "drift-report",
    }
    assert plan.subscriptions == {  # the ack deadline is the function's timeout_s (60 s or 540 s)
        "eventarc-register_model": ("gcs-object-notifications", 60),
        "eventarc-evaluate_model": ("gcs-object-notifications", 60),  # the same notifications, a trigger of its own
        "reconcile_registry-push": ("reconcile-registry", 540),
        "budget_alert-push": ("billing-budget-alerts", 60),
        "monitoring_alert-push": ("monitoring-alerts", 60),
        "drift_report-push": ("drift-report", 540),
    }


def test_plan_dead_letters_go_where_each_platform_sends_them(plan):
    assert plan.dead_letter_topics == {
        "reconcile-registry-dead-letter",
        "budget-alert-dead-letter",
        "monitoring-alert-dead-letter",
        "drift-report-dead-letter",
    }
    assert plan.dead_letter_queues == {"ecr-rollout-dead-letter"}  # the Lambda's on-failure SQS queue


def test_plan_schedules(plan):
    assert [(job, spec.name) for job, spec in plan.schedules] == [
        ("reconcile-registry", "reconcile_registry"),
        ("drift-report", "drift_report"),
        ("drift-report-http", "drift_report_http"),
    ]


def test_describe_is_plain_json_ready_data(plan):
    described = provision.describe(plan)
    assert described == {
        "buckets": ["ml-drift-dev", "ml-drift-logs-dev", "ml-drift-logs-prod", "ml-models-dev", "ml-models-prod"],
        "topics": [
            "billing-budget-alerts",
            "budget-alert-dead-letter",
            "drift-report",
            "drift-report-dead-letter",
            "gcs-object-notifications",
            "monitoring-alert-dead-letter",
            "monitoring-alerts",
            "reconcile-registry",
            "reconcile-registry-dead-letter",
        ],
        "subscriptions": [
            "budget_alert-push",
            "drift_report-push",
            "eventarc-evaluate_model",
            "eventarc-register_model",
            "monitoring_alert-push",
            "reconcile_registry-push",
        ],
        "dead_letter_queues": ["ecr-rollout-dead-letter"],
        "schedules": [
            {"job": "reconcile-registry", "function": "reconcile_registry"},
            {"job": "drift-report", "function": "drift_report"},
            {"job": "drift-report-http", "function": "drift_report_http"},
        ],
    }
    assert json.loads(json.dumps(described)) == described  # nothing but dicts, lists and strings


TERRAFORM_ACK_DEADLINE = "ack_deadline_s = min(600, max(10, var.timeout_s))"


def terraform_ack_deadline(timeout_s: int) -> int:
    """terraform/modules/gcp-function/main.tf's `ack_deadline_s`, evaluated (var.timeout_s defaults to 60)."""
    return min(600, max(10, timeout_s))


# (timeout_s, ack deadline): one whole run, within Pub/Sub's 10..600 s
ACK_DEADLINES = [(60, 60), (540, 540), (590, 590), (600, 600), (900, 600), (None, 60), (10, 10), (9, 10), (1, 10)]


@pytest.mark.parametrize(("timeout_s", "deadline"), ACK_DEADLINES)
def test_ack_deadline_is_the_terraform_modules(timeout_s, deadline):
    main_tf = (REPO_ROOT / "terraform" / "modules" / "gcp-function" / "main.tf").read_text()
    assert re.search(r"^\s*" + re.escape(TERRAFORM_ACK_DEADLINE) + r"\s*$", main_tf, re.MULTILINE)
    variables = (REPO_ROOT / "terraform" / "modules" / "gcp-function" / "variables.tf").read_text()
    assert re.search(r'variable "timeout_s" \{[^}]*default\s*=\s*60\b', variables)
    spec = FunctionSpec("f", "gcp-function", "functions/f.py", "f", "cloudevent", {}, [], timeout_s=timeout_s)
    assert provision.ack_deadline_s(spec) == deadline == terraform_ack_deadline(timeout_s or 60)


# -- ecr_bridge.failure_record --------------------------------------------------------------------
@pytest.mark.parametrize("condition", ["RetriesExhausted", "EventAgeExceeded"])
def test_failure_record_is_what_lambda_sends_its_on_failure_destination(condition):
    # GIVEN an ECR push event whose Lambda raised on its last invocation
    event = ecr_image_action_event("ml/inference", "sha256:" + "a" * 64, tag="v1", event_id="evt-1")
    error = {"errorMessage": "boom", "errorType": "RuntimeError", "stackTrace": ["  File handler.py"]}
    result = DeliveryResult(False, "error", "RuntimeError: boom", 200, 12.0, error_payload=error, request_id="req-9")

    # WHEN the failure record is made
    record = failure_record("ecr_rollout", event, result, 3, condition, account="123456789012", region="us-east-1")

    # THEN it is Lambda's asynchronous invocation record: the invocation's id, the condition, the event, the error
    context = record["requestContext"]
    assert context == {
        "requestId": "req-9",
        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:ecr_rollout:$LATEST",
        "condition": condition,
        "approximateInvokeCount": 3,
    }
    assert record["version"] == "1.0"
    assert datetime.fromisoformat(record["timestamp"]).tzinfo is not None
    assert record["requestPayload"] == event
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"] == error
    assert json.loads(json.dumps(record)) == record


def test_failure_record_without_an_error_payload_carries_the_detail():
    # GIVEN a give-up with no handler error to forward (the function never answered)
    event = ecr_image_action_event("ml/inference", "sha256:" + "b" * 64, event_id="evt-2")
    result = DeliveryResult(False, "unreachable", "ecr_rollout is not answering (refused)", None, 1.0)

    record = failure_record("ecr_rollout", event, result, 2, "EventAgeExceeded", account="1", region="eu-west-1")

    assert record["responsePayload"] == {"errorMessage": "ecr_rollout is not answering (refused)"}
    assert record["requestContext"]["requestId"] == ""
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responseContext"]["statusCode"] is None


# -- the functions' environment ---------------------------------------------------------------------


@pytest.fixture
def environment(tmp_path) -> FunctionEnvironment:
    emulators = {
        "pubsub": {"PUBSUB_EMULATOR_HOST": "127.0.0.1:1"},
        "firestore": {"FIRESTORE_EMULATOR_HOST": "127.0.0.1:2"},
        "gcs": {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:3"},
        "bigquery": {"MLOPS_EVENTS_BIGQUERY_ENDPOINT": "http://127.0.0.1:4"},
        "moto": {"AWS_ENDPOINT_URL": "http://127.0.0.1:5"},
    }
    return FunctionEnvironment(tmp_path, "local-project", emulators, "http://127.0.0.1:6/slack")


SHELL = {"PATH": "/bin", "KUBECONFIG": "/home/me/.kube/config", "AWS_PROFILE": "prod", "MLOPS_EVENTS_PROFILE": "cloud"}


def test_a_gcp_function_gets_the_emulators_and_the_local_slack_never_the_callers_cloud(environment, tmp_path):
    # GIVEN budget_alert, whose Slack webhook is a Secret Manager secret, and a shell pointing at a real cloud
    spec = function_named("budget_alert")

    # WHEN its environment is built
    env = environment.of(spec, {**SHELL, "MLOPS_EVENTS_SLACK_WEBHOOK_SECRET": "real-secret"})

    # THEN it runs on the emulators profile with the local Slack URL in place of the secret, and nothing of the
    # caller's credentials or profile
    assert env["PATH"] == "/bin" and "KUBECONFIG" not in env and "AWS_PROFILE" not in env
    assert (env["MLOPS_EVENTS_PROFILE"], env["MLOPS_EVENTS_STATE_DIR"]) == ("emulators", str(tmp_path))
    assert env["GOOGLE_CLOUD_PROJECT"] == env["MLOPS_EVENTS_GCP_PROJECT"] == "local-project"
    assert env["PUBSUB_EMULATOR_HOST"] == "127.0.0.1:1" and env["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:3"
    assert env["MLOPS_EVENTS_SLACK_WEBHOOK_URL"] == "http://127.0.0.1:6/slack"
    assert "MLOPS_EVENTS_SLACK_WEBHOOK_SECRET" not in env and "AWS_ENDPOINT_URL" not in env
    assert env["MLOPS_EVENTS_BUDGET_MENTION_AT_PERCENT"] == "100"  # the manifest's env


def test_the_lambda_reads_its_secrets_from_moto_by_name(environment):
    # GIVEN the rollout Lambda, whose kubeconfig and webhook are Secrets Manager secrets
    spec = function_named("ecr_rollout")

    # WHEN its environment is built
    env = environment.of(spec, SHELL)

    # THEN it reaches moto, each secret variable names its secret, and no webhook URL is handed over
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5"
    assert spec.secrets and all(env[secret["env"]] == secret["name"] for secret in spec.secrets)
    assert "MLOPS_EVENTS_SLACK_WEBHOOK_URL" not in env


def test_the_inference_service_serves_the_demo_model_of_the_first_env(environment):
    env = environment.of_inference("dev", SHELL)
    assert (env["MODEL_NAME"], env["ENV"], env["MLOPS_EVENTS_PROFILE"]) == ("fraud-detector", "dev", "emulators")


@pytest.mark.parametrize(
    ("function", "timeout_s"),
    [("register_model", 60.0), ("budget_alert", 60.0), ("drift_report", 540.0), ("ecr_rollout", None)],
)
def test_the_trigger_waits_as_long_as_the_platform(function, timeout_s):
    spec = function_named(function)
    expected = timeout_s if timeout_s is not None else float(spec.timeout_s or 60) + 5
    assert request_timeout_s(spec) == expected


def test_emulators_started_together_are_kept_as_each_comes_up_and_every_failure_is_named():
    # GIVEN two starters that work and two that fail
    def fails(why: str):
        def start():
            raise EmulatorError(why)

        return start

    ok = {"pubsub": object(), "moto": object()}
    starters = {"pubsub": lambda: ok["pubsub"], "firestore": fails("no java"), "moto": lambda: ok["moto"]}
    starters["bigquery"] = fails("no duckdb")
    kept: dict[str, object] = {}

    # WHEN they are started together
    with pytest.raises(EmulatorError) as raised:
        start_together(starters, kept.__setitem__)

    # THEN the ones that came up were handed over (for stop()), and the error names each that did not
    assert kept == ok
    assert sorted(str(raised.value).splitlines()) == ["bigquery: no duckdb", "firestore: no java"]
