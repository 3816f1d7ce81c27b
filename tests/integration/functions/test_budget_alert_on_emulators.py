"""budget_alert end to end: Pub/Sub emulator push -> functions-framework server -> local Slack receiver.

Claims and the alert ledger live in the Firestore emulator (emulators profile). Nothing is mocked:
the push subscription, the HTTP server, the webhook client and its retries are the real ones.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.concurrency import deliver_concurrently
from tests.support.pubsub_push import emulator_profile, push_topic, served_function, settle
from tooling.delivery import delivery_from_document
from tooling.fixture_factory import pubsub_cloud_event
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
def profile(monkeypatch, tmp_path, firestore_db, slack):
    return emulator_profile(monkeypatch, tmp_path, slack)


@pytest.fixture
def served(profile, tmp_path) -> Iterator[str]:
    """budget_alert under the functions-framework CLI, as Cloud Run serves it."""
    with served_function("budget_alert", profile, tmp_path) as url:
        yield url


@pytest.fixture
def publish(pubsub_emulator, served) -> Iterator[Any]:
    """A topic with a push subscription to the served function; returns its publish call."""
    with push_topic(served, "billing-budget-alerts", "budget-alert-push") as send:
        yield (lambda data, attributes: send(data, **attributes))


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
