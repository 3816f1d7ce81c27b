"""RegistryStore and ModelAliases on a SQLite file (embedded profile): the same rows as BigQuery
`ml_registry.models`, and the aliases as BigQuery's `aliases` view gives them, with every move kept."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.adapters.sqlite_files import connection, create_schema, write_transaction
from shared.model_registry import (
    AliasMove,
    AliasResult,
    DeleteResult,
    ModelArtifact,
    ModelSummary,
    ObjectRef,
    RecordResult,
    alias_name,
    check_alias_target,
    latest_live_version,
    summarize_models,
)
from shared.quality_gate import GateDecision

_COLUMNS = (
    "record_key",
    "env",
    "model",
    "version",
    "path",
    "bucket",
    "object_name",
    "generation",
    "metageneration",
    "size",
    "md5_hash",
    "crc32c",
    "content_type",
    "metadata",
    "uploader",
    "object_time",
    "event_id",
    "format",
    "format_unsafe",
    "format_detail",
    "registered_at",
    "registered_by",
    "deleted_at",
    "superseded_by_generation",
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS models (
    {", ".join(c + (" TEXT PRIMARY KEY" if c == "record_key" else "") for c in _COLUMNS)}
);
CREATE INDEX IF NOT EXISTS models_by_model ON models (env, model, version);
CREATE INDEX IF NOT EXISTS models_by_object ON models (bucket, object_name, generation);
CREATE TABLE IF NOT EXISTS aliases (
    env TEXT NOT NULL, model TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
    previous_version INTEGER, moved_by TEXT NOT NULL, moved_at TEXT NOT NULL,
    PRIMARY KEY (env, model, alias)
);
CREATE TABLE IF NOT EXISTS alias_moves (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    env TEXT NOT NULL, model TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
    previous_version INTEGER, moved_by TEXT NOT NULL, moved_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alias_moves_by_model ON alias_moves (model, env, alias);
CREATE TABLE IF NOT EXISTS gate_decisions (
    record_key TEXT PRIMARY KEY, env TEXT NOT NULL, model TEXT NOT NULL, version INTEGER NOT NULL,
    decided_at TEXT NOT NULL, decision TEXT NOT NULL
);
"""
_MOVE_COLUMNS = ("env", "model", "alias", "version", "previous_version", "moved_by", "moved_at")


def _row(record: Any) -> dict[str, Any]:
    row = dict(record)
    row["format_unsafe"] = bool(row["format_unsafe"])
    row["metadata"] = json.loads(row["metadata"] or "{}")
    return row


def _move(record: Any) -> AliasMove:
    previous = record["previous_version"]
    return AliasMove(
        env=record["env"],
        model=record["model"],
        alias=record["alias"],
        version=int(record["version"]),
        previous_version=int(previous) if previous is not None else None,
        moved_by=record["moved_by"],
        moved_at=record["moved_at"],
    )


class SqliteRegistryStore:
    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        create_schema(self._path, _SCHEMA)

    def record(self, artifact: ModelArtifact) -> RecordResult:
        row = artifact.to_row()
        ref = artifact.ref
        with write_transaction(self._path) as conn:
            inserted = conn.execute(
                f"INSERT OR IGNORE INTO models ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                [row[c] for c in _COLUMNS],
            ).rowcount
            if inserted:
                # A re-upload supersedes every older generation of the same object, whatever order they came in.
                conn.execute(
                    "UPDATE models SET superseded_by_generation = ? WHERE bucket = ? AND object_name = ?"
                    " AND generation < ? AND (superseded_by_generation IS NULL OR superseded_by_generation < ?)",
                    (ref.generation, ref.bucket, ref.name, ref.generation, ref.generation),
                )
                newer = conn.execute(
                    "SELECT MAX(generation) FROM models WHERE bucket = ? AND object_name = ? AND generation > ?",
                    (ref.bucket, ref.name, ref.generation),
                ).fetchone()[0]
                if newer is not None:
                    conn.execute(
                        "UPDATE models SET superseded_by_generation = ? WHERE record_key = ?",
                        (newer, artifact.record_key),
                    )
            latest = self._latest(conn, artifact.env, artifact.model)
        return RecordResult(created=bool(inserted), latest_version=latest)

    def mark_deleted(self, ref: ObjectRef, deleted_at: datetime) -> DeleteResult:
        with write_transaction(self._path) as conn:
            found = conn.execute("SELECT env, model FROM models WHERE record_key = ?", (ref.key,)).fetchone()
            if found is None:
                return DeleteResult(found=False, latest_version=None)
            conn.execute(
                "UPDATE models SET deleted_at = ? WHERE record_key = ? AND deleted_at IS NULL",
                (deleted_at.isoformat(), ref.key),
            )
            return DeleteResult(found=True, latest_version=self._latest(conn, found["env"], found["model"]))

    def known_keys(self, bucket: str) -> set[str]:
        conn = connection(self._path)
        return {r[0] for r in conn.execute("SELECT record_key FROM models WHERE bucket = ?", (bucket,))}

    def undeleted_keys(self, bucket: str) -> set[str]:
        conn = connection(self._path)
        query = "SELECT record_key FROM models WHERE bucket = ? AND deleted_at IS NULL"
        return {r[0] for r in conn.execute(query, (bucket,))}

    def artifacts(self, model: str, env: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM models WHERE model = ?" + (" AND env = ?" if env else "")
        params = (model, env) if env else (model,)
        conn = connection(self._path)
        rows = conn.execute(query + " ORDER BY env, version, path, generation", params).fetchall()
        return [_row(r) for r in rows]

    def list_models(self, env: str | None = None) -> list[ModelSummary]:
        conn = connection(self._path)
        query = "SELECT * FROM models" + (" WHERE env = ?" if env else "") + " ORDER BY env, model, version"
        rows = [_row(r) for r in conn.execute(query, (env,) if env else ())]
        return summarize_models(rows)

    # -- aliases ---------------------------------------------------------------------------------
    def set_alias(
        self, model: str, env: str, alias: str, version: int, *, by: str, at: datetime, forward_only: bool = False
    ) -> AliasResult:
        alias = alias_name(alias)
        with write_transaction(self._path) as conn:
            current = conn.execute(
                "SELECT * FROM aliases WHERE env = ? AND model = ? AND alias = ?", (env, model, alias)
            ).fetchone()
            if current is not None and (
                int(current["version"]) == version or (forward_only and int(current["version"]) > version)
            ):
                return AliasResult(moved=False, current=_move(current))
            rows = conn.execute(
                "SELECT env, model, version, deleted_at, superseded_by_generation FROM models"
                " WHERE env = ? AND model = ?",
                (env, model),
            ).fetchall()
            check_alias_target([dict(r) for r in rows], env, model, version)
            move = AliasMove(
                env=env,
                model=model,
                alias=alias,
                version=version,
                previous_version=int(current["version"]) if current is not None else None,
                moved_by=by,
                moved_at=at.isoformat(),
            )
            values = [getattr(move, c) for c in _MOVE_COLUMNS]
            marks = ", ".join("?" * len(_MOVE_COLUMNS))
            conn.execute(f"INSERT OR REPLACE INTO aliases ({', '.join(_MOVE_COLUMNS)}) VALUES ({marks})", values)
            conn.execute(f"INSERT INTO alias_moves ({', '.join(_MOVE_COLUMNS)}) VALUES ({marks})", values)
        return AliasResult(moved=True, current=move)

    def aliases(self, model: str, env: str | None = None) -> list[AliasMove]:
        query = "SELECT * FROM aliases WHERE model = ?" + (" AND env = ?" if env else "") + " ORDER BY env, alias"
        return [_move(r) for r in connection(self._path).execute(query, (model, env) if env else (model,))]

    def alias_history(self, model: str, env: str | None = None) -> list[AliasMove]:
        query = "SELECT * FROM alias_moves WHERE model = ?" + (" AND env = ?" if env else "")
        rows = connection(self._path).execute(
            query + " ORDER BY env, alias, moved_at, seq", (model, env) if env else (model,)
        )
        return [_move(r) for r in rows]

    # -- gate decisions --------------------------------------------------------------------------
    def record_decision(self, decision: GateDecision) -> bool:
        with write_transaction(self._path) as conn:
            return bool(
                conn.execute(
                    "INSERT OR IGNORE INTO gate_decisions (record_key, env, model, version, decided_at, decision)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        decision.record_key,
                        decision.env,
                        decision.model,
                        decision.version,
                        decision.decided_at,
                        json.dumps(decision.as_dict(), sort_keys=True),
                    ),
                ).rowcount
            )

    def decisions(self, model: str, env: str | None = None) -> list[GateDecision]:
        query = "SELECT decision FROM gate_decisions WHERE model = ?" + (" AND env = ?" if env else "")
        rows = connection(self._path).execute(
            query + " ORDER BY env, version, decided_at, record_key", (model, env) if env else (model,)
        )
        return [GateDecision.from_dict(json.loads(r[0])) for r in rows]

    @staticmethod
    def _latest(conn: Any, env: str, model: str) -> int | None:
        rows = conn.execute(
            "SELECT version, deleted_at, superseded_by_generation FROM models WHERE env = ? AND model = ?", (env, model)
        ).fetchall()
        return latest_live_version([dict(r) for r in rows])
