"""Runs one delivered event through a handler and logs its outcome as one structured line.

PermanentError -> `rejected`, acknowledged (HTTP 2xx) so the platform does not retry bad input.
TransientError (`retry`), ConfigError (`error`, its message and no traceback) and anything unexpected
(`error` with its traceback) -> logged, then raised so the platform redelivers.
No secret this process loaded reaches the outcome line, its detail or what is raised (shared.secret_values).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from shared.errors import ConfigError, PermanentError, TransientError
from shared.log import OUTCOME_LOGGER_NAME, configure_logging, log_fields
from shared.outcome import Outcome, Status
from shared.payloads.cloudevent import EventEnvelope, envelope_from_cloud_event
from shared.secret_values import redact, redact_value, scrub_exception

_ID_SHOWN = 256  # an event id's length in the outcome line (shared.payloads._fields.MAX_ID: longer ones are rejected)
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
    # The id as delivered, before any parser judged it: a 5 MB one goes into no log line whole.
    if event_id is not None and len(event_id) > _ID_SHOWN:
        event_id = f"{event_id[:_ID_SHOWN]}... ({len(event_id) - _ID_SHOWN} characters cut)"
    common = {"function": function, "event_id": event_id}

    def latency() -> float:
        return round((time.perf_counter() - started) * 1000, 2)

    # Exceptions' texts go through redact: a library's message may quote a secret this process loaded (an
    # HTTP client quoting a webhook URL). What re-raises is scrubbed too: the platform prints it outside
    # logging (the Lambda runtime's errorMessage), and redeliveries would print it again.
    leaked: BaseException | None = None
    outcome: Outcome | None = None
    try:
        outcome = handle()
    except PermanentError as exc:
        outcome = Outcome.rejected(redact(str(exc)))
    except (TransientError, ConfigError) as exc:
        # Neither is a bug: the platform redelivers until the backend is back or the configuration is fixed.
        # The message says which; a traceback would only bury it.
        configuration = isinstance(exc, ConfigError)
        status = "error" if configuration else "retry"
        detail = redact(f"configuration: {exc}" if configuration else str(exc))
        fields = {**common, "outcome": status, "detail": detail, "latency_ms": latency()}
        log_fields(logger, logging.ERROR, f"{function}: {status}: {detail}", **fields)
        leaked = scrub_exception(exc)
        if leaked is exc:
            raise
    except Exception as exc:
        clean = scrub_exception(exc)
        detail = redact(repr(clean))
        fields = {**common, "outcome": "error", "detail": detail, "latency_ms": latency()}
        logger.error(
            f"{function}: failed: {detail}",
            exc_info=(type(clean), clean, clean.__traceback__),
            extra={"fields": fields},
        )
        if clean is exc:
            raise
        leaked = clean
    if leaked is not None or outcome is None:
        raise leaked or AssertionError("unreachable")  # outside `except`: the original is not its __context__
    outcome = _redacted(outcome)
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


def _redacted(outcome: Outcome) -> Outcome:
    detail, extra = redact(outcome.detail), redact_value(outcome.extra)
    if detail == outcome.detail and extra == outcome.extra:
        return outcome
    return dataclasses.replace(outcome, detail=detail, extra=extra)


def run_cloud_event(function: str, cloud_event: Any, handle: Callable[[EventEnvelope], Outcome]) -> Outcome:
    return run_event(function, _event_id(cloud_event), lambda: handle(envelope_from_cloud_event(cloud_event)))
