"""Entry point: the daily Cloud Scheduler job, delivered through Pub/Sub as messagePublished."""

from __future__ import annotations

from handlers import reconcile_registry as use_case
from shared import framework_boundary
from shared.deps import current_deps
from shared.payloads.pubsub import parse_pubsub_message
from shared.payloads.scheduler import parse_scheduled_run
from shared.runtime import run_cloud_event


def _handle(envelope):
    run = parse_scheduled_run(parse_pubsub_message(envelope), default_job="reconcile-registry")
    return use_case.handle(run, current_deps())


@framework_boundary.cloud_event("reconcile_registry")
def reconcile_registry(cloud_event):
    run_cloud_event("reconcile_registry", cloud_event, _handle)
