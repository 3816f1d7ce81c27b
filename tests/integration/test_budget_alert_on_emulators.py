"""budget_alert end to end: Pub/Sub emulator push -> functions-framework server -> local Slack receiver.

Claims and the alert ledger live in the Firestore emulator (emulators profile). Nothing is mocked:
the push subscription, the HTTP server, the webhook client and its retries are the real ones.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import PROJECT
from tests.support.concurrency import deliver_concurrently
from tooling.delivery import delivery_from_document
from tooling.event_factory import pubsub_cloud_event
from tooling.local_server import start_function, wait_until_listening
from tooling.localcloud.slack_receiver import SlackReceiver
from tooling.manifest import function_named
from tooling.replay import Replayer

pytestmark = pytest.mark.integration
BUDGET_ID = "3f1c8a52-6e0b-4c8e-9d2a-7b1f0c9e4d11"


def notification(threshold: float | None, cost: float) -> tuple[bytes, dict[str, str]]:
    body: dict[str, Any] = {
        "budgetDisplayName": "ml-platform-prod",
        "costAmount": cost,
        "costIntervalStart": "2026-11-01T07:00:00Z",
        "budgetAmount": 1000.0,
        "budgetAmountType": "SPECIFIED_AMOUNT",
        "currencyCode": "USD",
    }
    if threshold is not None:
        body["alertThresholdExceeded"] = threshold
    attributes = {"billingAccountId": "01D4EE-079462-DFD6EC", "budgetId": BUDGET_ID, "schemaVersion": "1.0"}
    return json.dumps(body).encode(), attributes


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    with SlackReceiver() as receiver:
        yield receiver


@pytest.fixture
def profile(monkeypatch, tmp_path, firestore_db, slack):
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "emulators")
    monkeypatch.setenv("MLOPS_EVENTS_GCP_PROJECT", PROJECT)
    monkeypatch.setenv("MLOPS_EVENTS_SLACK_WEBHOOK_URL", slack.url)
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(tmp_path))
    return dict(os.environ)


@pytest.fixture
def served(profile, tmp_path) -> Iterator[str]:
    """budget_alert under the functions-framework CLI, as Cloud Run serves it."""
    spec = function_named("budget_alert")
    log = (tmp_path / "function.log").open("w")
    process, port = start_function(spec.source_path, spec.entry_point, env=profile, stdout=log)
    wait_until_listening(port, process)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture
def publish(pubsub_emulator, served) -> Iterator[Any]:
    """A topic with a push subscription to the served function; returns a publish(data, attributes) call."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    suffix = uuid.uuid4().hex[:8]
    topic = publisher.topic_path(PROJECT, f"billing-budget-alerts-{suffix}")
    subscription = subscriber.subscription_path(PROJECT, f"budget-alert-push-{suffix}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(
        request={
            "name": subscription,
            "topic": topic,
            "push_config": {"push_endpoint": served},
            "ack_deadline_seconds": 30,
        }
    )

    def send(data: bytes, attributes: dict[str, str]) -> str:
        return publisher.publish(topic, data, **attributes).result(timeout=10)

    yield send
    subscriber.delete_subscription(subscription=subscription)
    publisher.delete_topic(topic=topic)


def settle(slack: SlackReceiver, expected: int, quiet_s: float = 2.0, timeout_s: float = 30.0) -> list[dict]:
    """Wait for `expected` posts, then a quiet spell in which no further post may arrive."""
    posts = slack.wait_for_posts(expected, timeout_s=timeout_s)
    time.sleep(quiet_s)
    return slack.posts if len(slack.posts) != len(posts) else posts


def test_a_pushed_threshold_posts_once_and_its_republication_not_at_all(publish, slack):
    publish(*notification(None, 120.0))  # routine: nothing to say
    publish(*notification(0.5, 512.0))
    posts = settle(slack, 1)
    publish(*notification(0.5, 530.0))  # the budget publishes the same threshold again later
    assert settle(slack, 1) == posts
    assert len(posts) == 1 and "spent 50% of its budget" in posts[0]["text"]


def test_a_lower_threshold_after_a_higher_one_stays_quiet(publish, slack):
    publish(*notification(1.0, 1012.0))
    settle(slack, 1, quiet_s=0.5)
    publish(*notification(0.9, 950.0))
    posts = settle(slack, 1)
    assert len(posts) == 1 and "spent 100%" in posts[0]["text"]


def test_slack_down_for_the_first_attempts_then_up_gives_exactly_one_post(publish, slack):
    # GIVEN Slack answers 500 to more attempts than one delivery's client retries (so the function
    # answers 500 and Pub/Sub redelivers), then recovers
    slack.fail_next(6, status=500)

    # WHEN one threshold is published
    publish(*notification(0.9, 905.0))

    # THEN once Slack is back exactly one message was accepted, after the failed attempts
    posts = settle(slack, 1, timeout_s=90)
    assert len(posts) == 1
    assert sum(1 for r in slack.requests if r.status == 500) == 6


def test_five_concurrent_duplicate_deliveries_give_one_post(profile, slack):
    # GIVEN the same messagePublished event delivered five times at once (at-least-once delivery)
    body, attributes = notification(0.5, 512.0)
    event = pubsub_cloud_event(
        json.loads(body), topic="billing-budget-alerts", attributes=attributes, event_id=uuid.uuid4().hex
    )
    delivery = delivery_from_document(event)
    spec = function_named("budget_alert")
    statuses = deliver_concurrently(spec, delivery, 5)

    # WHEN the ones answered 500 (claim held by another delivery) are redelivered
    assert len(statuses) == 5 and set(statuses) <= {200, 500}
    for _ in range(statuses.count(500)):
        assert Replayer().deliver(spec, delivery, label="redelivery").outcome == "duplicate"

    # THEN Slack received exactly one post
    assert len(slack.posts) == 1
