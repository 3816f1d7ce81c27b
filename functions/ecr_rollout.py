"""AWS Lambda: an ECR push (EventBridge `ECR Image Action`) rolls the matching k3s Deployments.

powertools gives the Lambda its logger (context injected, correlation id = the event id), tracer and
metrics (cold start; rollouts started, succeeded, rolled back); the parser's pydantic models read the
event; idempotency (DynamoDB, keyed on repository + digest) lives behind `deps.rollout_once`. The
kubernetes client, boto3 and the idempotency layer are built on first use, not at import: a cold
start pays only for what its event needs.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import RESERVED_LOG_ATTRS, LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

from handlers import ecr_rollout as use_case
from shared.deps import current_deps
from shared.log import formatted_by
from shared.payloads.ecr import parse_ecr_event
from shared.runtime import run_event

SERVICE = "ecr_rollout"
# Most events (ignored, duplicates) publish no metric beyond the cold start: that is no warning.
warnings.filterwarnings("ignore", message="No application metrics to publish")


class _CloudWatchFormatter(LambdaPowertoolsFormatter):
    """powertools' shape (level, location, timestamp, service, cold_start, function_request_id,
    correlation_id, xray_trace_id) for the lines the runtime logs while this Lambda handles an event, the
    outcome line included: its fields at the top level, as powertools puts `extra` keys, and `logger`, by
    which whoever reads outcome lines (a metric filter, `up`'s console) finds them."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        flat = copy.copy(record)  # the record itself goes on to other handlers unchanged
        flat.__dict__.pop("fields", None)
        flat.logger = record.name
        for key, value in fields.items():  # a field named like a LogRecord attribute would replace it
            setattr(flat, f"field_{key}" if key in RESERVED_LOG_ATTRS else key, value)
        return super().format(flat)


# One formatter for powertools' own lines and the runtime's: the Lambda context keys that
# inject_lambda_context appends to it show in both.
# ASCII JSON: powertools' default writes text as is (ensure_ascii=False), and a lone surrogate from a
# hostile event then fails the write to stdout ("--- Logging error ---") instead of being escaped.
_formatter = _CloudWatchFormatter(json_serializer=functools.partial(json.dumps, separators=(",", ":"), default=str))
logger = Logger(service=SERVICE, logger_formatter=_formatter)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="mlops-events", service=SERVICE)
# Per-target statuses counted as metrics (others, such as noop or stale, change nothing).
_METRICS = {
    "RolloutsStarted": {"succeeded", "rolled_back", "pending", "failed"},
    "RolloutsSucceeded": {"succeeded"},
    "RolloutsRolledBack": {"rolled_back"},
    "RolloutsPending": {"pending"},
    "RolloutsFailed": {"failed", "missing"},
}


class _InvocationDeps:
    """The process's Deps, with idempotency bound to this invocation's context: an in-progress record
    expires when the invocation would have timed out, so a killed run does not block its retry."""

    def __init__(self, deps: Any, context: Any) -> None:
        self._deps, self._context = deps, context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._deps, name)

    def rollout_once(self, data, action):
        once = self._deps.rollout_once
        once.register_lambda_context(self._context)
        return once(data, action)


def _record_metrics(statuses: list[str]) -> None:
    for name, counted in _METRICS.items():
        count = sum(1 for status in statuses if status in counted)
        if count:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    event_id = event.get("id") if isinstance(event, dict) else None
    # The correlation id is the event id, cut: it goes into every line powertools logs, before any
    # parser has judged it (correlation_id_path would take a 5 MB one whole).
    logger.set_correlation_id(str(event_id)[:256] if event_id is not None else None)
    deps = _InvocationDeps(current_deps(), context)

    def remaining_s() -> float:
        return context.get_remaining_time_in_millis() / 1000.0

    with formatted_by(_formatter):
        outcome = run_event(
            SERVICE,
            str(event_id) if event_id else None,
            lambda: use_case.handle(parse_ecr_event(event, now=deps.clock()), deps, remaining_s=remaining_s),
        )
    _record_metrics(list(outcome.extra.get("statuses", [])))
    return {"outcome": str(outcome.status), "detail": outcome.detail, **outcome.extra}
