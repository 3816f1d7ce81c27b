"""AlertLedger on a SQLite file (embedded profile)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from shared.adapters.sqlite_files import connection, create_schema, write_transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_ledger (
    scope TEXT PRIMARY KEY,   -- budgetId/costIntervalStart/actual|forecast
    highest REAL NOT NULL,
    updated_at TEXT NOT NULL
)
"""


class SqliteAlertLedger:
    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        create_schema(self._path, _SCHEMA)

    def highest(self, scope: str) -> float | None:
        row = connection(self._path).execute("SELECT highest FROM alert_ledger WHERE scope = ?", (scope,)).fetchone()
        return float(row[0]) if row else None

    def raise_to(self, scope: str, threshold: float, *, now: datetime) -> float:
        with write_transaction(self._path) as conn:
            conn.execute(
                "INSERT INTO alert_ledger (scope, highest, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (scope) DO UPDATE SET highest = MAX(highest, excluded.highest),"
                " updated_at = CASE WHEN excluded.highest > highest THEN excluded.updated_at ELSE updated_at END",
                (scope, threshold, now.isoformat()),
            )
            return float(conn.execute("SELECT highest FROM alert_ledger WHERE scope = ?", (scope,)).fetchone()[0])
