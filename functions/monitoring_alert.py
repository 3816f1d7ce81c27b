"""Entry point: Cloud Monitoring's Pub/Sub notification channel, delivered as messagePublished."""

from __future__ import annotations

from handlers import monitoring_alert as use_case
from shared import framework_boundary
from shared.deps import current_deps
from shared.payloads.monitoring import parse_incident_notification
from shared.payloads.pubsub import parse_pubsub_message
from shared.runtime import run_cloud_event


def _handle(envelope):
    return use_case.handle(parse_incident_notification(parse_pubsub_message(envelope)), current_deps())


@framework_boundary.cloud_event("monitoring_alert")
def monitoring_alert(cloud_event):
    run_cloud_event("monitoring_alert", cloud_event, _handle)
