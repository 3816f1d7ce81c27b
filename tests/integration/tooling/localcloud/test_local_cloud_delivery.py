"""The local cloud's delivery loop against the real Pub/Sub emulator and small stand-in functions over HTTP:
redelivery with backoff, dead-lettering, a function that is down then back, and Lambda's async retries, also
end to end from an ECR event to the on-failure SQS queue on moto.

The stand-in functions answer as the real ones do (functions-framework's 500 after a TransientError, the Lambda
Invoke API's X-Amz-Function-Error) and write their outcome lines to a log file, as `up` serves them."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared.log import OUTCOME_LOGGER_NAME
from tests.integration.conftest import PROJECT
from tooling.fixture_factory import ecr_image_action_event
from tooling.local_server import write_answer
from tooling.localcloud import emulators
from tooling.localcloud.activity_log import ActivityLog, Attempt
from tooling.localcloud.dispatch import DeliveryResult, PubsubRoute, Target, deliver_with_retries
from tooling.localcloud.ecr_bridge import EcrToLambda
from tooling.localcloud.lambda_endpoint import invoke_path
from tooling.localcloud.outcome_log import OutcomeLog
from tooling.localcloud.provision import AWS_ACCOUNT, AWS_REGION
from tooling.localcloud.retry import retry_policy
from tooling.localcloud.routes import pubsub_route
from tooling.localcloud.triggers import Request
from tooling.manifest import FunctionSpec, function_named

pytestmark = pytest.mark.integration

# Pub/Sub's backoff shrunk 100x: 10 s -> 0.1 s, which the ack deadline (whole seconds) makes 1 s.
SCALE = 0.01
WAIT_S = 20.0


def pubsub_retry(max_attempts: int, dead_letter_topic: str | None = None) -> dict[str, Any]:
    """A manifest `retry` block for a push subscription (10 s doubling, capped at 600 s)."""
    retry: dict[str, Any] = {
        "policy": "retry_on_failure",
        "max_attempts": max_attempts,
        "min_backoff_s": 10,
        "max_backoff_s": 600,
    }
    if dead_letter_topic:
        retry["dead_letter_topic"] = dead_letter_topic
    return retry


# -- a stand-in function --------------------------------------------------------------------------
class StubFunction:
    """An HTTP function on 127.0.0.1: answers each request with the next scripted (status, headers, body),
    the last one for ever after, and logs an outcome line per event id like shared/runtime.py does."""

    def __init__(
        self,
        log_path: Path,
        script: list[tuple[int, dict[str, str], dict[str, Any]]],
        port: int = 0,
        on_request: Callable[[], None] = lambda: None,
    ):
        self.requests: list[dict[str, Any]] = []
        self._script = list(script)
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with stub._lock:
                    status, headers, answer = stub._script.pop(0) if len(stub._script) > 1 else stub._script[0]
                    request = {"path": self.path, "headers": dict(self.headers), "body": json.loads(body or b"{}")}
                    stub.requests.append(request)
                    event_id = request["body"].get("message", {}).get("messageId")
                    if event_id:
                        outcome = "applied" if status == 200 else "retry"
                        line = {
                            "logger": OUTCOME_LOGGER_NAME,
                            "event_id": event_id,
                            "outcome": outcome,
                            "detail": "stub",
                        }
                        with log_path.open("a", encoding="utf-8") as log:
                            log.write(f"some framework noise\n{json.dumps(line)}\n")
                on_request()
                write_answer(self, status, json.dumps(answer).encode(), {"Content-Type": "application/json", **headers})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ERROR = (500, {}, {"error": "TransientError: registry unavailable"})
OK = (200, {}, {})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def journal_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    text = path.read_text()
    complete = text[: text.rfind("\n") + 1]  # a line still being written is read next time
    return [json.loads(line) for line in complete.splitlines() if line]


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clients(pubsub_emulator) -> tuple[Any, Any]:
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()


@pytest.fixture
def topic(clients) -> Callable[[str], tuple[str, str]]:
    """topic(prefix) -> (topic path, subscription path): a fresh topic with a pull subscription (10 s deadline)."""
    publisher, subscriber = clients
    made: list[tuple[str, str]] = []

    def make(prefix: str) -> tuple[str, str]:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        topic_path = publisher.topic_path(PROJECT, name)
        subscription_path = subscriber.subscription_path(PROJECT, f"{name}-push")
        publisher.create_topic(name=topic_path)
        subscriber.create_subscription(name=subscription_path, topic=topic_path, ack_deadline_seconds=10)
        made.append((topic_path, subscription_path))
        return topic_path, subscription_path

    yield make
    for topic_path, subscription_path in made:
        subscriber.delete_subscription(subscription=subscription_path)
        publisher.delete_topic(topic=topic_path)


@pytest.fixture
def activity(tmp_path) -> tuple[ActivityLog, Path, list[Attempt]]:
    shown: list[Attempt] = []
    path = tmp_path / "events.jsonl"
    return ActivityLog(path, shown.append), path, shown


@pytest.fixture
def running() -> Iterator[Callable[[PubsubRoute], None]]:
    """running(route): polls the route in a thread (deliveries on the route's own workers) until the test ends."""
    stopping = threading.Event()
    started: list[tuple[PubsubRoute, threading.Thread]] = []

    def start(route: PubsubRoute) -> None:
        poller = threading.Thread(target=route.poll, args=(stopping,), daemon=True)
        poller.start()
        started.append((route, poller))

    yield start
    stopping.set()
    for route, poller in started:
        poller.join(timeout=10)
        assert not poller.is_alive(), "the route kept polling after the stop"
        route.stop(timeout_s=10)


@pytest.fixture
def stubs() -> Iterator[list[StubFunction]]:
    started: list[StubFunction] = []
    yield started
    for stub in started:
        stub.stop()


def route_to(
    target: Target, topic_path: str, retry: dict[str, Any], activity: ActivityLog, clients: tuple[Any, Any]
) -> PubsubRoute:
    """The route `up` wires (routes.pubsub_route) for a function on `topic_path` with the `retry` block: the
    topic fixture's subscription `<topic>-push` is the push subscription of a function named as the topic."""
    publisher, subscriber = clients
    name = topic_path.rsplit("/", 1)[1]
    spec = FunctionSpec(name, "gcp-function", "functions/x.py", "x", "cloudevent", {"kind": "pubsub", "topic": name},
                        [], retry=retry)  # fmt: skip
    route = pubsub_route(
        spec,
        target,
        subscriber=subscriber,
        publisher=publisher,
        project=PROJECT,
        envs=("dev",),
        activity=activity,
        backoff_scale=SCALE,
    )
    assert route is not None and route.subscription == subscriber.subscription_path(PROJECT, f"{name}-push")
    return route


def target_at(url: str, tmp_path: Path, name: str = "budget_alert") -> Target:
    log_path = tmp_path / f"{name}.log"
    return Target(name, url, OutcomeLog(log_path), timeout_s=5)


def pull_all(subscriber: Any, subscription: str, *, for_s: float) -> list[Any]:
    """Everything the subscription hands out within `for_s` seconds (acknowledged, so each comes once)."""
    from google.api_core.exceptions import DeadlineExceeded

    got: list[Any] = []
    deadline = time.monotonic() + for_s
    while time.monotonic() < deadline:
        try:
            response = subscriber.pull(subscription=subscription, max_messages=10, timeout=1.0)
        except DeadlineExceeded:
            continue
        if response.received_messages:
            got.extend(received.message for received in response.received_messages)
            subscriber.acknowledge(subscription=subscription, ack_ids=[r.ack_id for r in response.received_messages])
        else:
            time.sleep(0.1)
    return got


# -- tests ----------------------------------------------------------------------------------------
def test_a_failing_function_gets_the_message_again_until_it_succeeds(
    clients, topic, activity, running, stubs, tmp_path
):
    publisher, subscriber = clients
    events, events_path, shown = activity
    # GIVEN a function answering 500 twice, then 200, fed by its push subscription
    stub = StubFunction(tmp_path / "budget_alert.log", [ERROR, ERROR, OK])
    stubs.append(stub)
    topic_path, subscription = topic("budget")
    running(route_to(target_at(stub.url, tmp_path), topic_path, pubsub_retry(5), events, clients))

    # WHEN a message is published
    message_id = publisher.publish(topic_path, b'{"costAmount": 512.3}', budgetId="b-1").result(timeout=10)

    # THEN it is delivered three times, the third time applied
    records = wait_for(lambda: [r for r in journal_records(events_path) if r["outcome"] == "applied"], "success")
    assert len(stub.requests) == 3
    assert {r["body"]["message"]["messageId"] for r in stub.requests} == {message_id}
    assert all(r["path"] == f"/projects/{PROJECT}/topics/{topic_path.rsplit('/', 1)[1]}" for r in stub.requests)
    assert stub.requests[0]["body"]["message"]["attributes"] == {"budgetId": "b-1"}
    # no dead-letter policy: Pub/Sub does not send the delivery attempt
    assert all("deliveryAttempt" not in r["body"] for r in stub.requests)

    # AND the activity shows two failed attempts with their next retry, then the success on attempt 3
    records = journal_records(events_path)
    assert [(r["outcome"], r["attempt"], r.get("next_retry_s"), r["http_status"]) for r in records] == [
        ("retry", 1, 1, 500),
        ("retry", 2, 1, 500),
        ("applied", 3, None, 200),
    ]
    assert all(r["event_id"] == message_id and r["function"] == "budget_alert" for r in records)
    assert [a.outcome for a in shown] == ["retry", "retry", "applied"]

    # AND nothing is left on the subscription: it was acknowledged (past the 10 s ack deadline, nothing returns)
    time.sleep(0.5)  # the route's last ack is in flight
    assert pull_all(subscriber, subscription, for_s=11.0) == []
    assert len(stub.requests) == 3


def test_a_function_failing_every_time_dead_letters_after_max_attempts(
    clients, topic, activity, running, stubs, tmp_path
):
    publisher, subscriber = clients
    events, events_path, _ = activity
    # GIVEN a function that always answers 500, a manifest asking 2 attempts (Pub/Sub's minimum with a
    # dead-letter topic is 5) and a real dead-letter topic, wired as `up` wires it (routes.pubsub_dead_letter)
    stub = StubFunction(tmp_path / "budget_alert.log", [ERROR])
    stubs.append(stub)
    topic_path, subscription = topic("budget")
    dead_topic, dead_subscription = topic("budget-dead-letter")
    dead_name = dead_topic.rsplit("/", 1)[1]
    retry = pubsub_retry(2, dead_letter_topic=dead_name)
    assert retry_policy(retry).max_attempts == 5
    running(route_to(target_at(stub.url, tmp_path), topic_path, retry, events, clients))

    # WHEN a message is published
    message_id = publisher.publish(topic_path, b'{"costAmount": 1}', budgetId="b-2", schemaVersion="1.0").result(10)

    # THEN after five attempts the dead-letter topic holds it, data and attributes intact, with where it came from
    dead = wait_for(lambda: pull_all(subscriber, dead_subscription, for_s=0.5), "the dead-lettered message")
    assert len(dead) == 1
    assert dead[0].data == b'{"costAmount": 1}'
    attributes = dict(dead[0].attributes)
    assert attributes["budgetId"] == "b-2" and attributes["schemaVersion"] == "1.0"
    assert attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert attributes["CloudPubSubDeadLetterSourceSubscription"] == subscription.rsplit("/", 1)[1]
    assert attributes["CloudPubSubDeadLetterSourceSubscriptionProject"] == PROJECT
    assert attributes["CloudPubSubDeadLetterSourceTopicPublishTime"]
    assert len(stub.requests) == 5
    # a subscription with a dead-letter policy tells the function which delivery this is
    assert [r["body"]["deliveryAttempt"] for r in stub.requests] == [1, 2, 3, 4, 5]
    assert {r["body"]["message"]["messageId"] for r in stub.requests} == {message_id}

    # AND the activity ends with the last failed attempt, then "dead-lettered"
    records = wait_for(lambda: journal_records(events_path)[5:], "the dead-letter record")
    records = journal_records(events_path)
    assert [(r["outcome"], r["attempt"], r.get("next_retry_s")) for r in records] == [
        ("retry", 1, 1),
        ("retry", 2, 1),
        ("retry", 3, 1),
        ("retry", 4, 1),
        ("retry", 5, None),
        ("dead-lettered", 5, None),
    ]
    assert records[-1]["event_id"] == message_id
    detail = records[-1]["detail"]
    assert detail.startswith(f"dead-lettered to topic {dead_name}, held in {dead_name}-hold as message ")
    assert detail.endswith(
        "`mlops-events dead-letters redrive --message "
        + detail.split(" as message ")[1].split(":")[0]
        + "` sends it again"
    )


def test_a_function_that_is_down_gets_the_message_once_it_listens_again(
    clients, topic, activity, running, stubs, tmp_path
):
    publisher, _ = clients
    events, events_path, _ = activity
    # GIVEN a function whose process is gone: nothing listens on its port
    port = free_port()
    topic_path, _ = topic("drift")
    target = target_at(f"http://127.0.0.1:{port}", tmp_path, name="drift_report")
    running(route_to(target, topic_path, pubsub_retry(20), events, clients))

    # WHEN a message is published, delivery fails a couple of times, then the function is back on its port
    message_id = publisher.publish(topic_path, b"{}", scheduler_job="drift-report").result(timeout=10)
    wait_for(lambda: len(journal_records(events_path)) >= 2, "two unreachable attempts")
    stub = StubFunction(tmp_path / "drift_report.log", [OK], port=port)
    stubs.append(stub)

    # THEN it was redelivered while down, and delivered once it answered
    applied = wait_for(lambda: [r for r in journal_records(events_path) if r["outcome"] == "applied"], "delivery")
    records = journal_records(events_path)
    down = records[:-1]
    assert len(down) >= 2
    assert all(r["outcome"] == "unreachable" and "http_status" not in r and r["next_retry_s"] == 1 for r in down)
    assert [r["attempt"] for r in records] == list(range(1, len(records) + 1))
    assert applied == [records[-1]] and records[-1]["event_id"] == message_id
    assert len(stub.requests) == 1


def test_a_lambda_error_is_retried_with_async_backoff_then_sent_to_its_destination(activity, stubs, tmp_path):
    events, events_path, _ = activity
    # GIVEN a Lambda Invoke endpoint whose handler raises (HTTP 200 + X-Amz-Function-Error, as the API answers)
    failure = {"errorMessage": "cluster unreachable", "errorType": "TransientError"}
    headers = {"X-Amz-Function-Error": "Unhandled", "x-amz-request-id": "req-1"}
    stub = StubFunction(tmp_path / "ecr_rollout.log", [(200, headers, failure)])
    stubs.append(stub)
    target = Target("ecr_rollout", stub.url, OutcomeLog(tmp_path / "ecr_rollout.log"), timeout_s=5)
    policy = retry_policy(function_named("ecr_rollout").retry, scale=SCALE)
    request = Request(
        invoke_path("ecr_rollout"),
        {"Content-Type": "application/json"},
        json.dumps({"detail-type": "ECR Image Action", "id": "evt-1"}).encode(),
        "evt-1",
        "ECR Image Action",
        "inference@sha256:abc",
    )
    gave_up: list[tuple[DeliveryResult, int, float]] = []

    def on_give_up(result: DeliveryResult, attempts: int, age_s: float) -> str:
        gave_up.append((result, attempts, age_s))
        return "queue ecr-rollout-dead-letter"

    # WHEN EventBridge's event is delivered
    answer = deliver_with_retries(
        target, request, policy=policy, source="ecr", activity=events, stopping=threading.Event(), on_give_up=on_give_up
    )

    # THEN three invocations, about 60 and 120 s apart (scaled), then the on-failure destination
    assert not answer.ok
    assert (answer.outcome, answer.detail, answer.http_status) == ("error", "TransientError: cluster unreachable", 200)
    assert answer.error_payload == failure  # the handler's error, for the on-failure record
    assert answer.request_id == "req-1"
    assert len(stub.requests) == 3
    assert all(r["path"] == "/2015-03-31/functions/ecr_rollout/invocations" for r in stub.requests)
    assert [(result, attempts) for result, attempts, _ in gave_up] == [(answer, 3)]
    assert 0.6 + 1.2 <= gave_up[0][2] < WAIT_S  # the age: both backoffs were waited
    records = journal_records(events_path)
    assert [(r["outcome"], r["attempt"], r.get("next_retry_s")) for r in records] == [
        ("error", 1, 0.6),
        ("error", 2, 1.2),
        ("error", 3, None),
        ("dead-lettered", 3, None),
    ]
    assert all(r["detail"] == "TransientError: cluster unreachable" for r in records[:3])
    assert records[-1]["detail"] == "sent to queue ecr-rollout-dead-letter"
    assert all(r["source"] == "ecr" and r["event_id"] == "evt-1" for r in records)


@pytest.mark.parametrize("stops", ["during the request", "during the backoff", "on the only attempt"])
def test_a_stop_ends_the_retries_without_dead_lettering(activity, stubs, tmp_path, stops):
    events, events_path, _ = activity
    # GIVEN a Lambda that fails, and `up` stopping after its first failure (the failure may be the stop itself)
    stopping = threading.Event()
    failure = (200, {"X-Amz-Function-Error": "Unhandled"}, {"errorMessage": "killed", "errorType": "Runtime.Exit"})
    on_request = stopping.set if stops in ("during the request", "on the only attempt") else lambda: None
    stub = StubFunction(tmp_path / "ecr_rollout.log", [failure], on_request=on_request)
    stubs.append(stub)
    if stops == "during the backoff":
        events = ActivityLog(events_path, lambda attempt: stopping.set())
    target = Target("ecr_rollout", stub.url, OutcomeLog(tmp_path / "ecr_rollout.log"), timeout_s=5)
    retry = function_named("ecr_rollout").retry if stops != "on the only attempt" else {"policy": "do_not_retry"}
    request = Request("/", {"Content-Type": "application/json"}, b"{}", "evt-2", "ECR Image Action", "inference")
    gave_up: list[int] = []

    def on_give_up(result: DeliveryResult, attempts: int, age_s: float) -> str:
        gave_up.append(attempts)
        return "queue ecr-rollout-dead-letter"

    # WHEN it is delivered
    started = time.monotonic()
    result = deliver_with_retries(
        target,
        request,
        policy=retry_policy(retry, scale=SCALE),
        source="ecr",
        activity=events,
        stopping=stopping,
        on_give_up=on_give_up,
    )

    # THEN one invocation, no more retries, nothing sent to the on-failure destination
    assert not result.ok and result.outcome == "error"
    assert len(stub.requests) == 1
    assert gave_up == []
    records = journal_records(events_path)
    assert [r["outcome"] for r in records] == ["error"]
    assert all(r["outcome"] not in ("dead-lettered", "dropped") for r in records)
    assert time.monotonic() - started < 0.6  # it did not wait out the first backoff (0.6 s)


# -- EventBridge: an ECR event to the rollout Lambda, end to end ------------------------------------
def moto_clients(moto_server: Any) -> Callable[[str], Any]:
    """boto3 clients of moto server's services, as `up` makes them (`aws("ecr")`, `aws("sqs")`)."""
    import boto3

    def aws(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=moto_server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return aws


def rollout_bridge(
    spec: FunctionSpec, target: Target, aws: Callable[[str], Any], activity: ActivityLog, executor: ThreadPoolExecutor
) -> EcrToLambda:
    """The bridge `up` builds between the local ECR and one Lambda following ml/inference (backoffs shortened)."""
    return EcrToLambda(
        [spec],
        {spec.name: target},
        aws=aws,
        repositories=["ml/inference"],
        activity=activity,
        executor=executor,
        backoff_scale=0.005,
        account=AWS_ACCOUNT,
        region=AWS_REGION,
    )


def test_an_ecr_event_whose_lambda_always_fails_lands_in_the_on_failure_queue(moto_server, activity, stubs, tmp_path):
    events, events_path, _ = activity
    emulators.reset_moto(moto_server)
    aws = moto_clients(moto_server)

    # GIVEN the rollout Lambda's Invoke API, whose handler always raises, and its on-failure SQS queue on moto
    spec = function_named("ecr_rollout")
    error = {"errorMessage": "boom", "errorType": "RuntimeError"}
    headers = {"X-Amz-Function-Error": "Unhandled", "x-amz-request-id": "5f0c-req"}
    stub = StubFunction(tmp_path / "ecr_rollout.log", [(200, headers, error)])
    stubs.append(stub)
    path = invoke_path(spec.name)
    target = Target(spec.name, stub.url + path, OutcomeLog(tmp_path / "ecr_rollout.log"), timeout_s=5)
    queue = spec.retry["dead_letter_topic"]
    queue_url = aws("sqs").create_queue(QueueName=queue)["QueueUrl"]
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ecr-invoke")
    bridge = rollout_bridge(spec, target, aws, events, executor)
    stopping = threading.Event()

    # WHEN ECR's push event for ml/inference reaches EventBridge, and one for a repository no target follows
    event = ecr_image_action_event("ml/inference", "sha256:" + "c" * 64, tag="v2", event_id="evt-ecr-1")
    other = ecr_image_action_event("ml/other", "sha256:" + "d" * 64, tag="v1", event_id="evt-ecr-2")
    try:
        bridge.route(event, stopping)
        bridge.route(other, stopping)
        executor.shutdown(wait=True)  # the invocations and their retries are done
    finally:
        stopping.set()
        executor.shutdown(wait=True, cancel_futures=True)

    # THEN the Lambda was invoked three times (Lambda's async retries) with the event, on the Invoke API's path
    assert len(stub.requests) == 3
    assert all(r["path"] == path and r["body"] == event for r in stub.requests)

    # AND the on-failure queue holds Lambda's failure record
    received = aws("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    messages = received.get("Messages", [])
    assert len(messages) == 1
    record = json.loads(messages[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["requestId"] == "5f0c-req"
    assert (
        record["requestContext"]["functionArn"]
        == f"arn:aws:lambda:{AWS_REGION}:{AWS_ACCOUNT}:function:ecr_rollout:$LATEST"
    )
    assert record["requestPayload"] == event
    assert record["responsePayload"] == error
    assert record["responsePayload"]["errorMessage"] == "boom"

    # AND the activity shows the three failed invocations, the dead-lettering, and the unmatched event
    records = journal_records(events_path)
    invoked = [r for r in records if r.get("event_id") == "evt-ecr-1"]
    assert [(r["outcome"], r["attempt"]) for r in invoked] == [
        ("error", 1),
        ("error", 2),
        ("error", 3),
        ("dead-lettered", 3),
    ]
    assert invoked[-1]["detail"].startswith(f"sent to SQS queue {queue}: `mlops-events dead-letters list --function")
    unmatched = [r for r in records if r["outcome"] == "unmatched"]
    assert len(unmatched) == 1
    assert unmatched[0]["subject"].startswith("ml/other:v1 ")
    assert unmatched[0]["function"] == "-"
    assert not any(r.get("event_id") == "evt-ecr-2" for r in records)


def test_an_image_pushed_as_soon_as_up_is_ready_is_a_push(moto_server, activity, tmp_path):
    # GIVEN the bridge's baseline taken, as `up` takes it before it says it is ready
    events, _, _ = activity
    emulators.reset_moto(moto_server)
    aws = moto_clients(moto_server)
    aws("ecr").create_repository(repositoryName="ml/inference")
    spec = function_named("ecr_rollout")
    target = Target(spec.name, "http://127.0.0.1:9/unused", OutcomeLog(tmp_path / "unused.log"), timeout_s=1)
    bridge = rollout_bridge(spec, target, aws, events, ThreadPoolExecutor(max_workers=1))
    bridge.baseline()
    # WHEN an image is pushed before the watch thread's first poll (a busy machine: a user's push right away)
    layer = {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1}
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {**layer, "digest": "sha256:" + "a" * 64},
        "layers": [{**layer, "digest": "sha256:" + "b" * 64}],
    }
    pushed = aws("ecr").put_image(repositoryName="ml/inference", imageManifest=json.dumps(manifest), imageTag="2.0.0")
    routed: list[dict[str, Any]] = []
    bridge.route = lambda event, stopping: routed.append(event)  # type: ignore[method-assign]
    stopping = threading.Event()
    watching = threading.Thread(target=bridge.watch, args=(stopping,), daemon=True)
    watching.start()
    try:
        deadline = time.monotonic() + 10
        while not routed and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stopping.set()
        watching.join(5)
    # THEN the watch thread's first poll reports it as the push it is
    [event] = routed
    assert event["detail"]["image-digest"] == pushed["image"]["imageId"]["imageDigest"]
    assert (event["detail"]["action-type"], event["detail"]["image-tag"]) == ("PUSH", "2.0.0")
