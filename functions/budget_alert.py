"""Entry point: the Cloud Billing budget's Pub/Sub topic, delivered as messagePublished."""

from __future__ import annotations

from handlers import budget_alert as use_case
from shared import framework_boundary
from shared.deps import current_deps
from shared.payloads.budget import parse_budget_notification
from shared.payloads.pubsub import parse_pubsub_message
from shared.runtime import run_cloud_event


def _handle(envelope):
    return use_case.handle(parse_budget_notification(parse_pubsub_message(envelope)), current_deps())


@framework_boundary.cloud_event("budget_alert")
def budget_alert(cloud_event):
    run_cloud_event("budget_alert", cloud_event, _handle)
