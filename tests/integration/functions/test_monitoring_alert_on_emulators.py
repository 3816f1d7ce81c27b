"""monitoring_alert end to end: Pub/Sub emulator push -> functions-framework server -> local Slack receiver.

The notifications are the saved ones (events/monitoring/, Cloud Monitoring's schema 1.2), published as
the alert policies' Pub/Sub channel publishes them. Claims and the alert ledger live in the Firestore
emulator (emulators profile). Nothing is mocked: the push subscription, the HTTP server, the webhook
client and its retries are the real ones.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.concurrency import deliver_concurrently
from tests.support.pubsub_push import emulator_profile, push_topic, served_function, settle
from tooling.delivery import delivery_from_document
from tooling.fixture_factory import pubsub_cloud_event
from tooling.manifest import REPO_ROOT, function_named
from tooling.replay import Replayer

pytestmark = pytest.mark.integration
EVENTS = REPO_ROOT / "events" / "monitoring"


def notification(fixture: str, incident_id: str) -> bytes:
    """The notification JSON of a saved fixture, for an incident of this test's own."""
    document = json.loads((EVENTS / fixture).read_text())
    data = document.get("data") or document["body"]
    body = json.loads(base64.b64decode(data["message"]["data"]))
    saved_id, body["incident"]["incident_id"] = body["incident"]["incident_id"], incident_id
    body["incident"]["url"] = body["incident"]["url"].replace(saved_id, incident_id)
    return json.dumps(body).encode()


@pytest.fixture
def incident() -> str:
    return f"0.{uuid.uuid4().hex[:12]}"


@pytest.fixture
def profile(monkeypatch, tmp_path, firestore_db, slack):
    return emulator_profile(monkeypatch, tmp_path, slack)


@pytest.fixture
def served(profile, tmp_path) -> Iterator[str]:
    """monitoring_alert under the functions-framework CLI, as Cloud Run serves it."""
    with served_function("monitoring_alert", profile, tmp_path) as url:
        yield url


@pytest.fixture
def publish(pubsub_emulator, served) -> Iterator[Any]:
    """A topic with a push subscription to the served function; returns its publish call."""
    with push_topic(served, "monitoring-alerts", "monitoring-alert-push") as send:
        yield send


def test_an_incident_posts_when_it_opens_and_when_it_closes_and_nothing_more(publish, slack, incident):
    # GIVEN an incident opened, republished, acknowledged in the console
    publish(notification("01-open-p1-latency.structured.json", incident))
    settle(slack, 1, quiet_s=0.5)
    publish(notification("01-open-p1-latency.structured.json", incident))
    publish(notification("02-acknowledged-p1-latency.binary.json", incident))
    # WHEN it closes
    publish(notification("03-closed-p1-latency.structured.json", incident))
    # THEN exactly two messages went out: opened, resolved
    posts = settle(slack, 2)
    assert len(posts) == 2
    assert posts[0]["text"].startswith("[P1] inference p95 latency &gt; 2 s: incident opened")
    assert "incident resolved after 30 min" in posts[1]["text"]
    assert f"incidents/{incident}?project=mlops-events-prod|Open the incident" in json.dumps(posts[0]["blocks"])


def test_slack_down_for_the_first_attempts_then_up_gives_exactly_one_post(publish, slack, incident):
    # GIVEN Slack answers 500 to more attempts than one delivery's client retries (so the function
    # answers 500 and Pub/Sub redelivers), then recovers
    slack.fail_next(6, status=500)

    # WHEN an incident opens
    publish(notification("01-open-p1-latency.structured.json", incident))

    # THEN once Slack is back exactly one message was accepted, after the failed attempts
    posts = settle(slack, 1, timeout_s=90)
    assert len(posts) == 1
    assert sum(1 for r in slack.requests if r.status == 500) == 6


def test_five_concurrent_duplicate_deliveries_give_one_post(profile, slack, incident):
    # GIVEN the same messagePublished event delivered five times at once (at-least-once delivery)
    body = json.loads(notification("01-open-p1-latency.structured.json", incident))
    event = pubsub_cloud_event(body, topic="monitoring-alerts", event_id=uuid.uuid4().hex)
    delivery = delivery_from_document(event)
    spec = function_named("monitoring_alert")
    statuses = deliver_concurrently(spec, delivery, 5)

    # WHEN the ones answered 500 (claim held by another delivery) are redelivered
    assert len(statuses) == 5 and set(statuses) <= {200, 500}
    for _ in range(statuses.count(500)):
        assert Replayer().deliver(spec, delivery, label="redelivery").outcome == "duplicate"

    # THEN Slack received exactly one post
    assert len(slack.posts) == 1


def test_an_open_redelivered_after_its_close_stays_quiet(profile, slack, incident):
    # GIVEN the close of an incident processed first (the open's first delivery failed and was redelivered)
    spec = function_named("monitoring_alert")
    for fixture in ("03-closed-p1-latency.structured.json", "01-open-p1-latency.structured.json"):
        event = pubsub_cloud_event(
            json.loads(notification(fixture, incident)), topic="monitoring-alerts", event_id=uuid.uuid4().hex
        )
        Replayer().deliver(spec, delivery_from_document(event), label=fixture)
    # THEN only the resolution was posted: the ledger in Firestore knew the incident was closed
    assert len(slack.posts) == 1 and "resolved" in slack.posts[0]["text"]
