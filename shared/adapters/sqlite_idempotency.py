"""IdempotencyStore on a SQLite file (embedded profile)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shared.adapters.sqlite_files import create_schema, write_transaction
from shared.errors import AlreadyInProgressError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL,          -- in_progress | completed
    expires_at TEXT NOT NULL,      -- ISO 8601 UTC; an in_progress claim past it can be taken over
    result TEXT
)
"""


class SqliteIdempotencyStore:
    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        create_schema(self._path, _SCHEMA)

    def claim(self, key: str, *, now: datetime, expires_in_s: float) -> dict[str, Any] | None:
        expires_at = (now + timedelta(seconds=expires_in_s)).isoformat()
        with write_transaction(self._path) as conn:
            row = conn.execute("SELECT status, expires_at, result FROM idempotency WHERE key = ?", (key,)).fetchone()
            if row is not None:
                if row["status"] == "completed":
                    return json.loads(row["result"] or "{}")
                if datetime.fromisoformat(row["expires_at"]) > now:
                    raise AlreadyInProgressError(f"another delivery is processing {key}")
            conn.execute(
                "INSERT OR REPLACE INTO idempotency (key, status, expires_at, result)"
                " VALUES (?, 'in_progress', ?, NULL)",
                (key, expires_at),
            )
        return None

    def complete(self, key: str, result: dict[str, Any], *, now: datetime) -> None:
        with write_transaction(self._path) as conn:
            conn.execute(
                "UPDATE idempotency SET status = 'completed', result = ?, expires_at = ? WHERE key = ?",
                (json.dumps(result, sort_keys=True), now.isoformat(), key),
            )

    def release(self, key: str) -> None:
        with write_transaction(self._path) as conn:
            conn.execute("DELETE FROM idempotency WHERE key = ? AND status = 'in_progress'", (key,))
