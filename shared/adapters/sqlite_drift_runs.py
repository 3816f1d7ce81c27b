"""DriftRunStore on a SQLite file (embedded profile): the columns of BigQuery `ml_monitoring.drift_runs`.

Lists (ARRAY) and JSON columns are stored as JSON text. A file written before a column existed gets
it added on open, as Terraform adds it to the BigQuery table: its older rows read it as empty.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.adapters.sqlite_files import connection, retry_locked, write_transaction

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "ml_monitoring.drift_runs.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
COLUMNS = tuple(f["name"] for f in SCHEMA)
_AS_JSON = {f["name"] for f in SCHEMA if f["mode"] == "REPEATED" or f["type"] == "JSON"}


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    """The shape both stores return: drifted_features a list, dataset_drifted a bool, feature_scores a dict."""
    row["drifted_features"] = _decoded(row.get("drifted_features")) or []
    row["dataset_drifted"] = bool(row.get("dataset_drifted"))
    row["feature_scores"] = _decoded(row.get("feature_scores")) or {}
    return row


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class SqliteDriftRunStore:
    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        retry_locked(self._path, "creating the schema", self._create_schema)

    def _create_schema(self) -> None:
        columns = ", ".join(c + (" TEXT PRIMARY KEY" if c == "run_key" else "") for c in COLUMNS)
        with write_transaction(self._path) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS drift_runs ({columns})")
            present = {row["name"] for row in conn.execute("PRAGMA table_info(drift_runs)")}
            for column in COLUMNS:
                if column not in present:
                    conn.execute(f"ALTER TABLE drift_runs ADD COLUMN {column}")
            conn.execute("CREATE INDEX IF NOT EXISTS drift_runs_by_model ON drift_runs (model, env, started_at)")

    def record(self, row: dict[str, Any]) -> bool:
        values = [
            json.dumps(row[c], allow_nan=False) if c in _AS_JSON and row.get(c) is not None else row.get(c)
            for c in COLUMNS
        ]
        with write_transaction(self._path) as conn:
            return bool(
                conn.execute(
                    f"INSERT OR IGNORE INTO drift_runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    values,
                ).rowcount
            )

    def latest(self, model: str, env: str) -> dict[str, Any] | None:
        found = self.history(model, env, limit=1)
        return found[0] if found else None

    def history(self, model: str, env: str, limit: int = 20) -> list[dict[str, Any]]:
        rows = (
            connection(self._path)
            .execute(
                f"SELECT {', '.join(COLUMNS)} FROM drift_runs WHERE model = ? AND env = ?"
                " ORDER BY started_at DESC LIMIT ?",
                (model, env, int(limit)),
            )
            .fetchall()
        )
        return [public_row(dict(row)) for row in rows]
