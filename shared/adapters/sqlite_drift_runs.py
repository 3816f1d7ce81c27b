"""DriftRunStore on a SQLite file (embedded profile): the columns of BigQuery `ml_monitoring.drift_runs`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.adapters._sqlite import connection, write_transaction

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "ml_monitoring.drift_runs.json"
COLUMNS = tuple(f["name"] for f in json.loads(SCHEMA_PATH.read_text()))


class SqliteDriftRunStore:
    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        columns = ", ".join(c + (" TEXT PRIMARY KEY" if c == "run_key" else "") for c in COLUMNS)
        connection(self._path).execute(f"CREATE TABLE IF NOT EXISTS drift_runs ({columns})")

    def record(self, row: dict[str, Any]) -> bool:
        values = [json.dumps(row[c]) if isinstance(row.get(c), list) else row.get(c) for c in COLUMNS]
        with write_transaction(self._path) as conn:
            return bool(
                conn.execute(
                    f"INSERT OR IGNORE INTO drift_runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    values,
                ).rowcount
            )

    def latest(self, model: str, env: str) -> dict[str, Any] | None:
        found = (
            connection(self._path)
            .execute(
                "SELECT * FROM drift_runs WHERE model = ? AND env = ? ORDER BY started_at DESC LIMIT 1", (model, env)
            )
            .fetchone()
        )
        if found is None:
            return None
        row = dict(found)
        row["drifted_features"] = json.loads(row["drifted_features"] or "[]")
        row["dataset_drifted"] = bool(row["dataset_drifted"])
        return row
