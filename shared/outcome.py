"""The result every function returns and logs as one structured line."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# An outcome's detail is logged on every delivery and printed by the CLI: it names what was wrong, it
# does not carry the input. A longer one (a message that quoted an outside value) is cut, saying so.
DETAIL_MAX = 1000


class Status(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    key: str | None = None  # the natural idempotency key, when the event had one
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.detail) > DETAIL_MAX:
            cut = len(self.detail) - DETAIL_MAX
            object.__setattr__(self, "detail", f"{self.detail[:DETAIL_MAX]}... ({cut} characters cut)")

    @classmethod
    def applied(cls, detail: str, key: str | None = None, **extra: Any) -> Outcome:
        return cls(Status.APPLIED, detail, key, extra)

    @classmethod
    def duplicate(cls, detail: str, key: str | None = None, **extra: Any) -> Outcome:
        return cls(Status.DUPLICATE, detail, key, extra)

    @classmethod
    def ignored(cls, detail: str, key: str | None = None, **extra: Any) -> Outcome:
        return cls(Status.IGNORED, detail, key, extra)

    @classmethod
    def rejected(cls, detail: str, key: str | None = None, **extra: Any) -> Outcome:
        return cls(Status.REJECTED, detail, key, extra)
