"""RolloutJournal as a JSON-lines file: `<state-dir>/rollouts.jsonl`, one rollout decision per line."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()


class JsonlRolloutJournal:
    def __init__(self, path: Path) -> None:
        self._path = Path(path)

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True, default=str) + "\n"
        with _lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a", encoding="utf-8") as handle:  # one write per line: appends stay whole
                handle.write(line)

    def entries(self) -> list[dict[str, Any]]:
        if not self._path.is_file():
            return []
        return [json.loads(line) for line in self._path.read_text().splitlines() if line.strip()]
