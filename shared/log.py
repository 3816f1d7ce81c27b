"""Structured JSON logging: one line per record, with the `severity` key Cloud Logging reads.

Functions log to stdout (what Cloud Run / Cloud Functions collect); the CLI sends them to stderr so
its own stdout stays machine-readable. Every handler gets the secret redaction filter
(shared.secret_values): no secret this process loaded reaches a log line, whatever logger wrote it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from shared.secret_values import add_filter, install_redaction, redact
from shared.trace_context import current_log_fields

LOGGER_NAME = "mlops_events"
OUTCOME_LOGGER_NAME = "mlops_events.outcome"
_SEVERITY = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}


# A platform whose log shape is not Cloud Logging's (a Lambda: powertools' CloudWatch shape) formats the
# lines logged while it handles an event itself: `formatted_by` sets it for the block.
_platform_formatter: contextvars.ContextVar[logging.Formatter | None] = contextvars.ContextVar(
    "mlops_events_platform_formatter", default=None
)


@contextlib.contextmanager
def formatted_by(formatter: logging.Formatter) -> Iterator[None]:
    """Lines the runtime logs inside the block are formatted by `formatter` (then redacted, as every line)."""
    token = _platform_formatter.set(formatter)
    try:
        yield
    finally:
        _platform_formatter.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        platform = _platform_formatter.get()
        if platform is not None:
            return redact(platform.format(record))
        payload: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(current_log_fields())  # the request's trace, when it came with one
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        # The filter already cleaned the record; this catches a field's object whose text only shows here.
        return redact(json.dumps(payload, default=str, sort_keys=False))


def configure_logging(stream: TextIO | None = None, level: str = "INFO", *, force: bool = False) -> None:
    """Install the JSON handler once; `force` replaces it (the CLI redirects to stderr or a file).

    Each call also puts the redaction filter on every handler that appeared since (functions-framework's,
    Flask's, werkzeug's, powertools')."""
    install_redaction()
    logger = logging.getLogger(LOGGER_NAME)
    if logger.handlers and not force:
        return
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = add_filter(logging.StreamHandler(stream or sys.stdout))
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def get_logger(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def log_fields(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    logger.log(level, message, extra={"fields": fields})
