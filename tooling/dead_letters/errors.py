"""The one error a user can cause here (a hold that is missing, a client the cloud refuses, an unknown
message id): one line, printed by the CLI without a traceback."""

from __future__ import annotations

from shared.errors import MlopsEventsError


class DeadLetterError(MlopsEventsError):
    """A dead-letter hold cannot be read or written; the message names the hold and the cause."""


def describe_cloud_error(exc: BaseException) -> str:
    """A client library's failure in one line: its class and its first line, never a traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
