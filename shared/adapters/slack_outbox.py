"""SlackNotifier of the embedded profile: one webhook payload per line of `<state-dir>/slack-outbox.jsonl`.

What would have been posted stays readable by people (the demo, `mlops-events`) and by tests, with no
service. Several processes may append at once (functions-framework workers, the CLI): each line is one
`write` under an exclusive `flock`, so lines never interleave, and readers take the shared lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any


class OutboxSlackNotifier:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def post(self, payload: dict[str, Any]) -> None:
        line = (json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            written = os.write(fd, line)
            while written < len(line):  # a regular file takes it in one go; finish the line if it did not
                written += os.write(fd, line[written:])
        finally:
            os.close(fd)  # releases the lock


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """Every payload posted so far, oldest first; none when nothing was posted yet."""
    try:
        with open(path, encoding="utf-8") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH)
            text = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
