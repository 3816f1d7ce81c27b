"""A dead letter as `dead-letters list` shows it, and what a redrive did with it. Every text field is
already safe to print (preview.py): read from a message anyone could publish, it is never trusted."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from tooling.dead_letters.preview import safe_text


@dataclass(frozen=True)
class DeadLetter:
    id: str  # the message's id in its hold (Pub/Sub message id, SQS MessageId): what `redrive --message` takes
    kind: str  # pubsub | sqs
    hold: str  # where it waits: the hold subscription or the queue
    function: str | None  # the manifest's function it was for; None when the message does not tell
    destination: str | None  # where a redrive sends it: the original topic, or the Lambda
    attempts: int | None  # deliveries (Pub/Sub) or invocations (Lambda) before it was given up
    first_published: str | None  # when the original event was first published (ISO 8601, UTC)
    dead_lettered: str | None  # when it reached the hold
    size: int  # bytes of the original data
    preview: str
    attributes: dict[str, str] = field(default_factory=dict)  # the original message's, previewed
    error: str | None = None  # the Lambda's last error, where the record has one

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Redriven:
    letter: DeadLetter
    ok: bool  # sent again, and removed from the hold
    detail: str
    removed: bool = False  # False when it stays (the send failed; or the removal did, after a send)

    def as_dict(self) -> dict[str, Any]:
        outcome = "redriven" if self.ok else "failed"
        return {
            "id": self.letter.id,
            "hold": self.letter.hold,
            "function": self.letter.function,
            "destination": self.letter.destination,
            "outcome": outcome,
            "removed": self.removed,
            "detail": self.detail,
        }


def iso_utc(value: Any) -> str | None:
    """A time read from a message as ISO 8601 UTC (`...Z`); a value that is no time is shown as it is, made
    safe; nothing for nothing."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return safe_text(value, 64)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
