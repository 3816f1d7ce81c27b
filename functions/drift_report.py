"""Entry points: a Cloud Scheduler drift run, through Pub/Sub (CloudEvent) or through HTTP (OIDC)."""

from __future__ import annotations

import json
import uuid

from werkzeug.exceptions import RequestEntityTooLarge

from handlers import drift_report as use_case
from shared import framework_boundary
from shared.deps import current_deps
from shared.errors import EventParseError
from shared.outcome import Status
from shared.payloads.drift import parse_drift_request
from shared.payloads.pubsub import parse_pubsub_message
from shared.payloads.scheduler import (
    JOB_NAME_HEADER,
    SCHEDULE_TIME_HEADER,
    parse_scheduled_run,
    schedule_time_from_headers,
)
from shared.runtime import run_cloud_event, run_event
from shared.trace_context import from_cloud_trace_context

DEFAULT_JOB = "drift-report"


def _from_pubsub(envelope):
    run = parse_scheduled_run(parse_pubsub_message(envelope), default_job=DEFAULT_JOB)
    request = parse_drift_request(run.payload, event_id=run.event_id, job=run.job, schedule_time=run.schedule_time)
    return use_case.handle(request, current_deps())


@framework_boundary.cloud_event("drift_report")
def drift_report(cloud_event):
    run_cloud_event("drift_report", cloud_event, _from_pubsub)


def _trace_id(header: str) -> str | None:
    """The trace id of `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1` (32 hex digits), or None: the header
    comes from outside and becomes the run's key, so only its grammar is taken."""
    trace = from_cloud_trace_context(header)
    return trace.trace_id if trace else None


def _from_http(request):
    schedule_time = schedule_time_from_headers(request.headers)
    try:
        body = json.loads(request.get_data() or b"{}")
    except RequestEntityTooLarge:
        raise EventParseError("is over the size limit of a request", field="body") from None
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        raise EventParseError("is not valid JSON", field="body") from None
    drift_request = parse_drift_request(
        body,
        # No schedule time means "run now": a fresh id, so every such call runs.
        event_id=_trace_id(request.headers.get("X-Cloud-Trace-Context", "")) or uuid.uuid4().hex,
        job=request.headers.get(JOB_NAME_HEADER) or DEFAULT_JOB,
        schedule_time=schedule_time,
    )
    return use_case.handle(drift_request, current_deps())


@framework_boundary.http
def drift_report_http(request):
    """Cloud Scheduler's HTTP target; answers the outcome as JSON. Bad input is 422: the job shows failed."""
    event_id = request.headers.get(SCHEDULE_TIME_HEADER) or None
    outcome = run_event("drift_report_http", event_id, lambda: _from_http(request))
    status = 422 if outcome.status is Status.REJECTED else 200
    return {"outcome": str(outcome.status), "detail": outcome.detail}, status
