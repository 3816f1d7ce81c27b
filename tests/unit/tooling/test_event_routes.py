"""Saved events go where the manifest's triggers send them in the cloud, whatever folder they lie in.

GIVEN every saved event of the repository, read as if it lay anywhere else (no fixture glob to go by)
WHEN it is routed by what it says (type, topic, bucket, scheduler job, EventBridge source and detail-type)
THEN it reaches the function whose fixtures hold it, but for the events no trigger of the cloud would
deliver (an ECR scan result, an S3 event), which get an error naming what they are and what the
manifest subscribes.
"""

from __future__ import annotations

import copy
import json

import pytest

from tooling.event_routes import RoutingError, function_for, route
from tooling.manifest import load_manifest

SPECS = load_manifest()
FIXTURES = [(spec.name, path) for spec in SPECS for path in spec.fixture_files()]
NOT_DELIVERED = {"10-scan-complete.json", "22-malformed-not-ecr.json"}  # outside the rule's pattern


@pytest.mark.parametrize(("owner", "path"), FIXTURES, ids=[p.name for _, p in FIXTURES])
def test_a_saved_event_anywhere_goes_to_the_function_its_trigger_names(owner, path):
    document = json.loads(path.read_text())
    if path.name in NOT_DELIVERED:
        with pytest.raises(RoutingError, match=r"is taken by no trigger; the manifest subscribes .*ecr_rollout"):
            route(document, SPECS)
    else:
        assert route(document, SPECS).name == owner
    # In the repository, its fixture glob says it first (the fixtures include events the cloud would not send)
    assert function_for(path, document, SPECS).name == owner


def pubsub_event(source: str, subscription: str | None = None) -> dict:
    event = {"specversion": "1.0", "id": "1", "type": "google.cloud.pubsub.topic.v1.messagePublished"}
    return {**event, "source": source, "data": {"message": {"data": ""}, "subscription": subscription}}


@pytest.mark.parametrize(
    ("source", "subscription", "function"),
    [
        ("//pubsub.googleapis.com/projects/p/topics/billing-budget-alerts", None, "budget_alert"),
        ("//pubsub.googleapis.com/projects/p/topics/drift-report", None, "drift_report"),
        ("//pubsub.googleapis.com/projects/p/topics/reconcile-registry", None, "reconcile_registry"),
        ("//pubsub.googleapis.com/", "projects/p/subscriptions/budget-alert-push", "budget_alert"),
        ("//pubsub.googleapis.com/", "projects/p/subscriptions/reconcile_registry-push", "reconcile_registry"),
    ],
)
def test_a_pubsub_message_goes_to_the_subscriber_of_its_topic(source, subscription, function):
    assert route(pubsub_event(source, subscription), SPECS).name == function


def test_a_topic_nobody_subscribes_names_the_topic_and_the_subscriptions():
    with pytest.raises(RoutingError) as caught:
        route(pubsub_event("//pubsub.googleapis.com/projects/p/topics/orders"), SPECS)
    message = str(caught.value)
    assert "a Pub/Sub message from topic 'orders'" in message and "is taken by no trigger" in message
    assert "budget_alert to topic billing-budget-alerts" in message and "--function" in message


def test_a_storage_event_on_a_bucket_two_functions_share_by_type_is_told_apart_by_bucket():
    # GIVEN a second storage function on another bucket
    specs = [*SPECS]
    other = copy.deepcopy(next(s for s in SPECS if s.name == "register_model"))
    object.__setattr__(other, "name", "index_datasets")
    object.__setattr__(other, "trigger", {**other.trigger, "filters": {"bucket": "ml-datasets-{env}"}})
    specs.append(other)
    event = {"specversion": "1.0", "id": "1", "source": "//storage", "type": "google.cloud.storage.object.v1.finalized"}
    for bucket, function in [("ml-models-prod", "register_model"), ("ml-datasets-dev", "index_datasets")]:
        assert route({**event, "data": {"bucket": bucket, "name": "x"}}, specs).name == function


def test_something_that_is_no_event_is_named_as_such():
    with pytest.raises(RoutingError, match="an event of no type we know"):
        route([1, 2], SPECS)


@pytest.mark.parametrize(
    "document",
    [{"eventId": "x", "context": 5}, {"headers": {"ce-type": 7}}, {"detail-type": ["x"], "source": {}}, None],
)
def test_a_document_of_odd_shape_is_a_routing_error_never_a_crash(document):
    with pytest.raises(RoutingError):
        route(document, SPECS)


@pytest.mark.parametrize("headers", [{"X-a": "模"}, {"X-é": "v"}, {"X-a": "line\nbreak"}, {"X a": "v"}])
def test_a_header_http_cannot_carry_is_bad_input_not_a_crash_when_sent(headers):
    from shared.errors import EventParseError
    from tooling.delivery import delivery_from_document

    with pytest.raises(EventParseError) as caught:
        delivery_from_document({"headers": {"Content-Type": "application/json", **headers}, "body": {}})
    assert caught.value.field == "headers"
