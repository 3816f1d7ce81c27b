"""SlackNotifier of the embedded profile: one webhook payload per line of `<state-dir>/slack-outbox.jsonl`.

What would have been posted stays readable by people (the demo, `mlops-events`) and by tests, with no
service. Several processes may append at once (functions-framework workers, the CLI); `_jsonl` keeps
each line whole and a torn one from hiding the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.adapters.jsonl_files import append_line, read_records


class OutboxSlackNotifier:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def post(self, payload: dict[str, Any]) -> None:
        append_line(self.path, json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """Every payload posted so far, oldest first; none when nothing was posted yet; torn lines skipped."""
    return read_records(path)
