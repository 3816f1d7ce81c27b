"""One exception root for the project.

`PermanentError` means the input can never succeed: log it, ack it, record the rejection, never retry.
`TransientError` means the world was not ready (a backend down, a claim held by another delivery):
raise so the platform redelivers.
"""

from __future__ import annotations


class MlopsEventsError(Exception):
    """Root of every error this project raises on purpose."""


class PermanentError(MlopsEventsError):
    """Bad input or a state that retrying cannot fix."""


class TransientError(MlopsEventsError):
    """Retry later: the platform's redelivery is the retry loop."""


class EventParseError(PermanentError):
    """An event that does not have the shape we expect; `field` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        self.reason = message  # the message without the field: to raise it again under another field name
        super().__init__(f"{field}: {message}" if field else message)


class ConfigError(MlopsEventsError):
    """Configuration that cannot work. Not permanent for the event: once fixed, redeliveries succeed."""


class ConflictError(TransientError):
    """The object changed since it was read (HTTP 409): read it again and decide again."""


class AlreadyInProgressError(TransientError):
    """Another delivery of the same event holds the idempotency claim right now."""


class SlackRejectedError(MlopsEventsError):
    """Slack answered 4xx (revoked webhook, bad payload): retrying the same request will not help,
    but the alert must not be acknowledged and lost either; it goes to the dead-letter topic."""
