"""RegistryStore on the BigQuery table `ml_registry.models`: the registry's full history, for SQL.

Rows go in with a parameterised MERGE on record_key rather than a streaming insert: insertId
de-duplication is best effort (the emulator does none), and rows in the streaming buffer cannot be
UPDATEd for a while, which the supersede and delete updates need at once. Every statement is
idempotent, so a redelivery after a crash half-way through finishes the job.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.adapters.bigquery_statements import (
    ensure_partitioned_table,
    parameter_value,
    plain_row,
    run_query,
    schema_fields,
)
from shared.model_registry import (
    DeleteResult,
    ModelArtifact,
    ModelSummary,
    ObjectRef,
    RecordResult,
    summarize_models,
)

if TYPE_CHECKING:
    from google.cloud import bigquery

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "ml_registry.models.json"
DEFAULT_TIMEOUT_S = 30.0


def _public_row(row: Any) -> dict[str, Any]:
    """A result row in the shape SqliteRegistryStore returns: ISO timestamps, metadata as a dict."""
    out = plain_row(row)
    metadata = out.get("metadata")
    out["metadata"] = json.loads(metadata) if isinstance(metadata, str) else dict(metadata or {})
    out["format_unsafe"] = bool(out.get("format_unsafe"))
    return out


class BigQueryRegistryTable:
    def __init__(self, client: bigquery.Client, table_id: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._client = client
        self._table_id = table_id
        self._timeout_s = timeout_s

    # -- plumbing --------------------------------------------------------------------------------
    def _query(self, sql: str, params: list[Any] | None = None, *, what: str) -> Any:
        table = f"`{self._table_id}`"
        return run_query(
            self._client, sql.replace("{table}", table), params or [], timeout_s=self._timeout_s, what=what
        )

    @staticmethod
    def _param(name: str, kind: str, value: Any) -> Any:
        from google.cloud import bigquery

        return bigquery.ScalarQueryParameter(name, kind, value)

    def ensure_table(self) -> None:
        """Create the dataset and the day-partitioned, clustered table when missing (emulators, first run)."""
        ensure_partitioned_table(
            self._client,
            self._table_id,
            SCHEMA_PATH,
            partition_field="registered_at",
            clustering=["model", "env"],
            timeout_s=self._timeout_s,
        )

    # -- writes ----------------------------------------------------------------------------------
    def record(self, artifact: ModelArtifact) -> RecordResult:
        row = artifact.to_row()
        fields = schema_fields(SCHEMA_PATH)
        params = []
        selects = []
        for f in fields:
            name, kind = f["name"], f["type"]
            if kind == "JSON":  # JSON goes over the wire as text and is parsed server side
                params.append(self._param(name, "STRING", row[name]))
                selects.append(f"PARSE_JSON(@{name}) AS {name}")
            else:
                params.append(self._param(name, kind, parameter_value(kind, row[name])))
                selects.append(f"@{name} AS {name}")
        columns = ", ".join(f["name"] for f in fields)
        job, _ = self._query(
            f"MERGE {{table}} AS t USING (SELECT {', '.join(selects)}) AS s ON t.record_key = s.record_key"
            f" WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({', '.join('s.' + f['name'] for f in fields)})",
            params,
            what=f"record {artifact.record_key}",
        )
        created = bool(job.num_dml_affected_rows)
        # Run on duplicates too: when a crash came between the MERGE and here, the redelivery heals it.
        self._supersede(artifact.ref)
        return RecordResult(created=created, latest_version=self._latest(artifact.env, artifact.model))

    def _supersede(self, ref: ObjectRef) -> None:
        """Every generation of an object but the newest points at the newest, whatever order they came in."""
        self._query(
            "UPDATE {table} AS t SET superseded_by_generation = newest.generation"
            " FROM (SELECT MAX(generation) AS generation FROM {table}"
            " WHERE bucket = @bucket AND object_name = @object_name) AS newest"
            " WHERE t.bucket = @bucket AND t.object_name = @object_name AND t.generation < newest.generation"
            " AND (t.superseded_by_generation IS NULL OR t.superseded_by_generation < newest.generation)",
            [self._param("bucket", "STRING", ref.bucket), self._param("object_name", "STRING", ref.name)],
            what=f"supersede {ref.bucket}/{ref.name}",
        )

    def mark_deleted(self, ref: ObjectRef, deleted_at: datetime) -> DeleteResult:
        key = self._param("record_key", "STRING", ref.key)
        _, found = self._query(
            "SELECT env, model FROM {table} WHERE record_key = @record_key LIMIT 1", [key], what=f"find {ref.key}"
        )
        if not found:
            return DeleteResult(found=False, latest_version=None)
        self._query(
            "UPDATE {table} SET deleted_at = @deleted_at WHERE record_key = @record_key AND deleted_at IS NULL",
            [key, self._param("deleted_at", "TIMESTAMP", deleted_at)],
            what=f"mark deleted {ref.key}",
        )
        return DeleteResult(found=True, latest_version=self._latest(found[0]["env"], found[0]["model"]))

    # -- reads -----------------------------------------------------------------------------------
    def _latest(self, env: str, model: str) -> int | None:
        _, rows = self._query(
            "SELECT MAX(version) AS latest FROM {table} WHERE env = @env AND model = @model"
            " AND deleted_at IS NULL AND superseded_by_generation IS NULL",
            [self._param("env", "STRING", env), self._param("model", "STRING", model)],
            what=f"latest of {env}/{model}",
        )
        latest = rows[0]["latest"] if rows else None
        return int(latest) if latest is not None else None

    def known_keys(self, bucket: str) -> set[str]:
        _, rows = self._query(
            "SELECT record_key FROM {table} WHERE bucket = @bucket",
            [self._param("bucket", "STRING", bucket)],
            what=f"known keys of {bucket}",
        )
        return {r["record_key"] for r in rows}

    def undeleted_keys(self, bucket: str) -> set[str]:
        _, rows = self._query(
            "SELECT record_key FROM {table} WHERE bucket = @bucket AND deleted_at IS NULL",
            [self._param("bucket", "STRING", bucket)],
            what=f"undeleted keys of {bucket}",
        )
        return {r["record_key"] for r in rows}

    def artifacts(self, model: str, env: str | None = None) -> list[dict[str, Any]]:
        params = [self._param("model", "STRING", model)]
        if env:
            params.append(self._param("env", "STRING", env))
        _, rows = self._query(
            "SELECT * FROM {table} WHERE model = @model"
            + (" AND env = @env" if env else "")
            + " ORDER BY env, version, path, generation",
            params,
            what=f"artifacts of {model}",
        )
        return [_public_row(r) for r in rows]

    def list_models(self, env: str | None = None) -> list[ModelSummary]:
        params = [self._param("env", "STRING", env)] if env else []
        _, rows = self._query(
            "SELECT env, model, version, deleted_at, superseded_by_generation, registered_at FROM {table}"
            + (" WHERE env = @env" if env else "")
            + " ORDER BY env, model, version",
            params,
            what="list models",
        )
        # Grouped here with the domain's own rule, so `latest` means the same on every backend.
        return summarize_models([_public_row(r) for r in rows])
