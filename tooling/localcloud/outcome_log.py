"""Reads what a served function did from its own log: the one structured outcome line per event
(shared/runtime.py), matched on the event id. That line is the contract between a function and
whoever watches it, in the cloud (a log-based metric) as here."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from shared.log import OUTCOME_LOGGER_NAME


class OutcomeLog:
    """Follows one function's log file from where `up` started it; keeps the last outcome per event id."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = b""
        self._latest: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _read_new_lines(self) -> None:
        try:
            with self._path.open("rb") as log:
                log.seek(self._offset)
                chunk = log.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()  # a line still being written waits for the next read
        for line in lines:
            if not line.startswith(b"{"):
                continue
            try:
                fields = json.loads(line)
            except ValueError:
                continue
            if isinstance(fields, dict) and fields.get("logger") == OUTCOME_LOGGER_NAME and fields.get("event_id"):
                self._latest[str(fields["event_id"])] = fields

    def outcome_for(self, event_id: str) -> dict[str, Any] | None:
        """The newest outcome line logged for `event_id` (taken, so a redelivery reads its own)."""
        with self._lock:
            self._read_new_lines()
            return self._latest.pop(event_id, None)
