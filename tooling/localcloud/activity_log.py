"""What the local cloud did, one record per delivery attempt or trigger action: the console's lines
and `<state-dir>/events.jsonl`."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.log import get_logger

_log = get_logger("localcloud")


@dataclass(frozen=True)
class Attempt:
    source: str  # gcs | pubsub | scheduler | ecr | slack | up
    function: str
    subject: str
    outcome: str  # applied | duplicate | ignored | rejected | delivered | error | unreachable | fired | ...
    detail: str = ""
    event_id: str = ""
    attempt: int = 0
    latency_ms: float | None = None
    http_status: int | None = None
    next_retry_s: float | None = None  # set when it will be delivered again
    time: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


class ActivityLog:
    """Appends every Attempt to a JSONL file and hands it to the console."""

    def __init__(self, path: Path, show: Callable[[Attempt], None]) -> None:
        self._path = path
        self._show = show
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, attempt: Attempt) -> None:
        stamped = replace(attempt, time=datetime.now(UTC).isoformat(timespec="milliseconds"))
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(stamped.as_dict()) + "\n")
        try:
            self._show(stamped)
        except Exception:  # the console must never stop a delivery
            _log.exception("console failed")

    def failure(self, source: str, function: str, subject: str, exc: BaseException) -> None:
        """A bug or an outage inside the local cloud itself: shown, never swallowed."""
        self.record(Attempt(source, function, subject, "error", f"{type(exc).__name__}: {exc}"[:300]))

    def guarded(self, source: str, function: str, subject: str, run: Callable[..., Any]) -> Callable[..., None]:
        """`run`, with any exception it raises recorded instead of lost in a thread pool's future."""

        def call(*args: Any, **kwargs: Any) -> None:
            try:
                run(*args, **kwargs)
            except Exception as exc:
                self.failure(source, function, subject, exc)

        return call
