"""RolloutJournal as a JSON-lines file: `<state-dir>/rollouts.jsonl`, one rollout decision per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.adapters.jsonl_files import append_line, read_records


class JsonlRolloutJournal:
    def __init__(self, path: Path) -> None:
        self._path = Path(path)

    def record(self, entry: dict[str, Any]) -> None:
        append_line(self._path, json.dumps(entry, sort_keys=True, default=str).encode("utf-8"))

    def entries(self) -> list[dict[str, Any]]:
        return read_records(self._path)
