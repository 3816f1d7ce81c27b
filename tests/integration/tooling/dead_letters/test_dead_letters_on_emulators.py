"""Dead-letter holds read and redriven against the real Pub/Sub emulator and moto's SQS.

The dead letters are made by the forwarders `mlops-events up` uses (routes.pubsub_dead_letter, which adds
Pub/Sub's CloudPubSubDeadLetterSource* attributes; ecr_bridge.failure_record, Lambda's on-failure record);
each test has a project of its own on the shared emulator, named as the manifest names things."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tooling.dead_letters.connect import Place
from tooling.dead_letters.errors import DeadLetterError
from tooling.dead_letters.holds import Hold, locate
from tooling.dead_letters.operations import list_letters, redrive
from tooling.dead_letters.sqs_hold import LambdaFailureQueue
from tooling.localcloud.dispatch import DeliveryResult
from tooling.localcloud.ecr_bridge import failure_record
from tooling.localcloud.routes import pubsub_dead_letter
from tooling.localcloud.triggers import Message
from tooling.manifest import REPO_ROOT, load_manifest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:The return_immediately flag is deprecated:DeprecationWarning"),
]

BUDGET_FIXTURE = REPO_ROOT / "events" / "budget" / "02-actual-50.structured.json"
ECR_FIXTURE = REPO_ROOT / "events" / "ecr" / "01-push-inference-1.2.0.json"
DEAD_LETTER_TOPIC = "budget-alert-dead-letter"
TRIGGER_TOPIC = "billing-budget-alerts"


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture
def project(pubsub_emulator) -> str:
    return f"dl-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def place(pubsub_emulator, project: str) -> Place:
    return Place(
        describe="the test emulator", project=project, queue_suffix="", local=True, pubsub_host=pubsub_emulator.host
    )


@pytest.fixture
def pubsub(pubsub_emulator) -> tuple[Any, Any]:
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()


@pytest.fixture
def budget_hold() -> Hold:
    [hold] = locate(load_manifest(), function="budget_alert")
    return hold


def wire(pubsub: tuple[Any, Any], project: str, hold_suffix: str = "-hold", trigger: bool = True) -> str:
    """What provision.py creates for budget_alert: its trigger topic with a subscription (here a pull one,
    to see what a redrive publishes), the dead-letter topic and its hold. Returns the trigger subscription."""
    publisher, subscriber = pubsub
    topic = publisher.topic_path(project, TRIGGER_TOPIC)
    received = subscriber.subscription_path(project, "budget_alert-push")
    if trigger:
        publisher.create_topic(name=topic)
        subscriber.create_subscription(name=received, topic=topic, ack_deadline_seconds=10)
    dead = publisher.topic_path(project, DEAD_LETTER_TOPIC)
    publisher.create_topic(name=dead)
    if hold_suffix:
        hold = subscriber.subscription_path(project, DEAD_LETTER_TOPIC + hold_suffix)
        subscriber.create_subscription(name=hold, topic=dead, ack_deadline_seconds=60)
    return received


def budget_message(name: str) -> tuple[bytes, dict[str, str]]:
    message = json.loads(BUDGET_FIXTURE.read_text())["data"]["message"]
    body = json.loads(base64.b64decode(message["data"]))
    body["budgetDisplayName"] = name
    return json.dumps(body).encode(), dict(message.get("attributes", {}))


def dead_letter(pubsub: tuple[Any, Any], project: str, data: bytes, attributes: dict[str, str], *,
                deliveries: int = 20, published: datetime | None = None) -> None:  # fmt: skip
    """A message budget_alert's push subscription gave up on, forwarded as `up` (and Pub/Sub) forward it."""
    publisher, _ = pubsub
    forward = pubsub_dead_letter(publisher, project, DEAD_LETTER_TOPIC, "budget_alert-push")
    original = Message(f"orig-{uuid.uuid4().hex[:6]}", data, attributes, published or datetime.now(UTC))
    forward(original, deliveries)


def pull_all(subscriber: Any, subscription: str, *, for_s: float = 3.0) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + for_s
    while time.monotonic() < deadline:
        response = subscriber.pull(subscription=subscription, max_messages=10, return_immediately=True, timeout=5)
        if response.received_messages:
            got.extend(r.message for r in response.received_messages)
            subscriber.acknowledge(subscription=subscription, ack_ids=[r.ack_id for r in response.received_messages])
        elif got:
            break
        else:
            time.sleep(0.1)
    return got


# -- Pub/Sub --------------------------------------------------------------------------------------
def test_a_listed_dead_letter_says_where_it_waits_what_it_was_for_and_stays_there(place, pubsub, project, budget_hold):
    # GIVEN a budget notification budget_alert's subscription gave up on after 20 deliveries
    wire(pubsub, project)
    published = datetime(2026, 12, 1, 8, 0, 5, 250_000, tzinfo=UTC)
    data, attributes = budget_message("dl-listed")
    dead_letter(pubsub, project, data, attributes, published=published)
    # WHEN the holds are listed, twice
    letters, problems = list_letters(place, [budget_hold])
    again, _ = list_letters(place, [budget_hold])
    # THEN it is shown with where it waits, its function, attempts and first publish time, and not taken out
    assert problems == []
    [letter] = letters
    assert letter.kind == "pubsub" and letter.hold == "budget-alert-dead-letter-hold"
    assert (letter.function, letter.destination, letter.attempts) == ("budget_alert", TRIGGER_TOPIC, 20)
    assert letter.first_published == "2026-12-01T08:00:05.250Z"
    assert letter.dead_lettered is not None and letter.dead_lettered > letter.first_published
    assert "dl-listed" in letter.preview and letter.size == len(data)
    assert not any(key.startswith("CloudPubSubDeadLetter") for key in letter.attributes)
    assert [a.id for a in again] == [letter.id]


def test_redrive_republishes_the_original_to_the_trigger_topic_then_removes_it(place, pubsub, project, budget_hold):
    received = wire(pubsub, project)
    data, attributes = budget_message("dl-redriven")
    dead_letter(pubsub, project, data, attributes)
    dead_letter(pubsub, project, *budget_message("dl-left-alone"))
    letters, _ = list_letters(place, [budget_hold])
    chosen = next(letter for letter in letters if "dl-redriven" in letter.preview)
    # WHEN one message is redriven by its id
    results, problems = redrive(place, [budget_hold], ids={chosen.id})
    # THEN the trigger topic got the original data and attributes, without the dead-letter ones
    assert problems == []
    [result] = results
    assert result.ok and result.removed and f"republished to {TRIGGER_TOPIC}" in result.detail
    [republished] = pull_all(pubsub[1], received)
    assert bytes(republished.data) == data
    assert dict(republished.attributes) == attributes
    # AND only it left the hold
    left, _ = list_letters(place, [budget_hold])
    assert [letter.id for letter in left] != [] and chosen.id not in {letter.id for letter in left}
    assert all("dl-left-alone" in letter.preview for letter in left)


def test_a_redrive_whose_publish_fails_leaves_the_message_in_the_hold(place, pubsub, project, budget_hold):
    # GIVEN the trigger topic is gone (a half-deleted deployment)
    wire(pubsub, project, trigger=False)
    dead_letter(pubsub, project, *budget_message("dl-stays"))
    # WHEN everything is redriven
    results, problems = redrive(place, [budget_hold], ids=None)
    # THEN the failure names the topic, and the message is still there, at once (not after a lease)
    assert problems == []
    [result] = results
    assert not result.ok and not result.removed
    assert "NotFound" in result.detail and TRIGGER_TOPIC in result.detail and "stays" in result.detail
    left, _ = list_letters(place, [budget_hold])
    assert [letter.id for letter in left] == [result.letter.id]


def test_the_clouds_hold_name_is_found_and_a_missing_hold_is_one_line(place, pubsub, project, budget_hold):
    wire(pubsub, project, hold_suffix="-hold")
    dead_letter(pubsub, project, *budget_message("dl-cloud-named"))
    letters, problems = list_letters(place, [budget_hold])
    assert problems == [] and [letter.hold for letter in letters] == ["budget-alert-dead-letter-hold"]

    other = Place(describe="x", project=f"{project}-bare", queue_suffix="", local=True, pubsub_host=place.pubsub_host)
    wire(pubsub, other.project, hold_suffix="")
    letters, problems = list_letters(other, [budget_hold])
    assert letters == []
    [problem] = problems
    assert "no hold subscription on dead-letter topic budget-alert-dead-letter" in problem and "\n" not in problem


def test_an_unknown_message_id_is_reported_and_nothing_is_taken_out(place, pubsub, project, budget_hold):
    wire(pubsub, project)
    dead_letter(pubsub, project, *budget_message("dl-kept"))
    results, problems = redrive(place, [budget_hold], ids={"no-such-id"})
    assert results == []
    assert problems == [f"no dead letter 'no-such-id' waits in {DEAD_LETTER_TOPIC} (the test emulator)"]
    assert len(list_letters(place, [budget_hold])[0]) == 1


def test_the_preview_of_hostile_data_is_cut_escaped_and_free_of_secrets(place, pubsub, project, budget_hold):
    wire(pubsub, project)
    webhook = "https://hooks.slack.com/services/T0001/B0002/" + "s" * 24
    hostile = {"budgetDisplayName": "\x1b[31mred\u202egnp.exe\n" + "x" * 5000, "webhook_url": webhook,
               "note": f"posted to {webhook}"}  # fmt: skip
    dead_letter(pubsub, project, json.dumps(hostile).encode(), {"token": "t0ps3cr3t", "k": "\x07bell"})
    [letter] = list_letters(place, [budget_hold])[0]
    shown = json.dumps(letter.as_dict())
    assert "s" * 24 not in shown and "t0ps3cr3t" not in shown
    assert "\x1b" not in letter.preview and "\u202e" not in letter.preview and "\n" not in letter.preview
    assert "\\u202e" in letter.preview and "characters cut" in letter.preview
    assert len(letter.preview) < 260
    assert letter.attributes == {"k": "\\x07bell", "token": "[redacted]"}


# -- SQS: the Lambda's on-failure queue -----------------------------------------------------------
class FakeLambda:
    """boto3's Lambda client as far as a redrive uses it: records each invoke, answers as told."""

    def __init__(self, error: str | None = None) -> None:
        self.error, self.calls = error, []

    def invoke(self, **call: Any) -> dict[str, Any]:
        self.calls.append(call)
        if self.error:
            body = {"errorMessage": self.error, "errorType": "TransientError"}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        return {"StatusCode": 200, "Payload": io.BytesIO(b'{"outcome": "applied", "detail": "rolled"}')}


@pytest.fixture
def queue(aws) -> tuple[Any, Hold]:
    import boto3

    [hold] = locate(load_manifest(), function="ecr_rollout")
    sqs = boto3.client("sqs")
    sqs.create_queue(QueueName=hold.name)
    return sqs, hold


def queue_failure(sqs: Any, hold: Hold) -> dict[str, Any]:
    """Lambda's on-failure record for the ECR fixture's event, as `up` (and Lambda) send it."""
    event = json.loads(ECR_FIXTURE.read_text())
    failed = DeliveryResult(False, "error", "boom", 200, 12.0, {"errorMessage": "cluster unreachable",
                                                                 "errorType": "TransientError"}, "req-1")  # fmt: skip
    record = failure_record("ecr_rollout", event, failed, 3, "RetriesExhausted", account="123456789012",
                            region="us-east-1")  # fmt: skip
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=hold.name)["QueueUrl"], MessageBody=json.dumps(record))
    return event


def test_a_lambda_failure_record_is_listed_with_its_attempts_error_and_event(queue):
    sqs, hold = queue
    event = queue_failure(sqs, hold)
    reader = LambdaFailureQueue(hold, sqs=sqs, lambda_client=lambda region: FakeLambda())
    [letter] = reader.letters(100)
    assert (letter.kind, letter.hold, letter.function, letter.destination) == (
        "sqs",
        "ecr-rollout-dead-letter",
        "ecr_rollout",
        "ecr_rollout",
    )
    assert letter.attempts == 3 and letter.error == "TransientError: cluster unreachable"
    assert letter.first_published == datetime.fromisoformat(event["time"]).astimezone(UTC).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")
    assert event["detail"]["repository-name"] in letter.preview
    assert [again.id for again in reader.letters(100)] == [letter.id]  # listing took nothing out


def test_a_redriven_failure_record_invokes_the_lambda_with_the_event_and_is_deleted(queue):
    sqs, hold = queue
    event = queue_failure(sqs, hold)
    invoked = FakeLambda()
    reader = LambdaFailureQueue(hold, sqs=sqs, lambda_client=lambda region: invoked)
    [result] = reader.redrive(lambda letter: True, 100)
    assert result.ok and result.removed and result.detail == "invoked ecr_rollout: applied"
    [call] = invoked.calls
    assert call["FunctionName"] == "ecr_rollout" and call["InvocationType"] == "RequestResponse"
    assert json.loads(call["Payload"]) == event
    assert reader.letters(100) == []


def test_a_redrive_the_lambda_fails_again_keeps_the_record(queue):
    sqs, hold = queue
    queue_failure(sqs, hold)
    reader = LambdaFailureQueue(hold, sqs=sqs, lambda_client=lambda region: FakeLambda(error="still unreachable"))
    [result] = reader.redrive(lambda letter: True, 100)
    assert not result.ok and not result.removed
    assert "failed again: TransientError: still unreachable" in result.detail
    assert [letter.id for letter in reader.letters(100)] == [result.letter.id]


@pytest.mark.parametrize("shape", ["failure record", "eventbridge target"])
def test_a_message_naming_another_lambda_is_never_invoked_nor_deleted(queue, shape):
    # GIVEN a message anyone who can send to the queue could forge: it names another function
    sqs, hold = queue
    event = json.loads(ECR_FIXTURE.read_text())
    url = sqs.get_queue_url(QueueName=hold.name)["QueueUrl"]
    other = "arn:aws:lambda:eu-west-3:999999999999:function:payroll-admin"
    if shape == "failure record":
        record = {"requestContext": {"functionArn": other, "condition": "RetriesExhausted"}, "requestPayload": event}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
    else:
        target = {"TARGET_ARN": {"DataType": "String", "StringValue": other}}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event), MessageAttributes=target)
    invoked = FakeLambda()
    reader = LambdaFailureQueue(hold, sqs=sqs, lambda_client=lambda region: invoked)
    # WHEN every letter is redriven
    [result] = reader.redrive(lambda letter: True, 100)
    # THEN nothing is invoked, the message stays, and the listing shows what it names
    assert invoked.calls == [] and not result.ok and not result.removed
    assert "it names Lambda payroll-admin, not this hold's function" in result.detail
    assert [letter.destination for letter in reader.letters(100)] == ["payroll-admin"]


def test_in_the_cloud_a_redrive_invokes_the_deployed_name_in_the_configured_region(queue):
    sqs, local_hold = queue
    hold = Hold(local_hold.kind, local_hold.name, local_hold.functions, deployed_suffix="-prod")
    event = json.loads(ECR_FIXTURE.read_text())
    record = {
        "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:ecr-rollout-prod"},
        "requestPayload": event,
    }
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=hold.name)["QueueUrl"], MessageBody=json.dumps(record))
    regions, invoked = [], FakeLambda()
    reader = LambdaFailureQueue(hold, sqs=sqs, lambda_client=lambda region: regions.append(region) or invoked)
    [result] = reader.redrive(lambda letter: True, 100)
    assert result.ok and [call["FunctionName"] for call in invoked.calls] == ["ecr-rollout-prod"]
    assert regions == [None]  # the client's configured region: never one a message names


def test_a_missing_queue_is_one_line(aws):
    import boto3

    [hold] = locate(load_manifest(), function="ecr_rollout", queue_suffix="-nowhere")
    reader = LambdaFailureQueue(hold, sqs=boto3.client("sqs"), lambda_client=lambda region: None)
    with pytest.raises(DeadLetterError, match=r"SQS: could not find the queue ecr-rollout-dead-letter-nowhere"):
        reader.letters(10)


def test_old_dead_letters_are_not_confused_with_new(place, pubsub, project, budget_hold):
    """The first publish time is the original's, however long the message waited in the hold."""
    wire(pubsub, project)
    week_ago = datetime.now(UTC) - timedelta(days=6)
    dead_letter(pubsub, project, *budget_message("dl-old"), published=week_ago)
    [letter] = list_letters(place, [budget_hold])[0]
    assert letter.first_published is not None and letter.first_published.startswith(week_ago.date().isoformat())
