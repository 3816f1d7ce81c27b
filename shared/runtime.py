"""Runs one delivered event through a handler and logs its outcome as one structured line.

PermanentError -> `rejected`, acknowledged (HTTP 2xx) so the platform does not retry bad input.
TransientError and anything unexpected -> logged, then raised so the platform redelivers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from shared.errors import PermanentError, TransientError
from shared.events.cloudevent import EventEnvelope, envelope_from_cloud_event
from shared.log import OUTCOME_LOGGER_NAME, configure_logging, log_fields
from shared.outcome import Outcome, Status

_LEVEL = {
    Status.APPLIED: logging.INFO,
    Status.DUPLICATE: logging.INFO,
    Status.IGNORED: logging.INFO,
    Status.REJECTED: logging.WARNING,
}


def _event_id(cloud_event: Any) -> str | None:
    try:
        return str(cloud_event["id"])
    except Exception:  # a payload too broken to have an id still gets its outcome logged
        return None


def run_event(function: str, event_id: str | None, handle: Callable[[], Outcome]) -> Outcome:
    """Run `handle`, log its outcome as one line; PermanentError becomes `rejected`, the rest re-raise."""
    configure_logging()
    logger = logging.getLogger(OUTCOME_LOGGER_NAME)
    started = time.perf_counter()
    common = {"function": function, "event_id": event_id}

    def latency() -> float:
        return round((time.perf_counter() - started) * 1000, 2)

    try:
        outcome = handle()
    except PermanentError as exc:
        outcome = Outcome.rejected(str(exc))
    except TransientError as exc:
        fields = {**common, "outcome": "retry", "detail": str(exc), "latency_ms": latency()}
        log_fields(logger, logging.ERROR, f"{function}: retry: {exc}", **fields)
        raise
    except Exception as exc:
        fields = {**common, "outcome": "error", "detail": repr(exc), "latency_ms": latency()}
        logger.error(f"{function}: failed: {exc!r}", exc_info=True, extra={"fields": fields})
        raise
    log_fields(
        logger,
        _LEVEL[outcome.status],
        f"{function}: {outcome.status}: {outcome.detail}",
        **common,
        outcome=str(outcome.status),
        detail=outcome.detail,
        key=outcome.key,
        latency_ms=latency(),
        **outcome.extra,
    )
    return outcome


def run_cloud_event(function: str, cloud_event: Any, handle: Callable[[EventEnvelope], Outcome]) -> Outcome:
    return run_event(function, _event_id(cloud_event), lambda: handle(envelope_from_cloud_event(cloud_event)))
