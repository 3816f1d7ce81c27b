"""RegistryStore and ModelAliases on BigQuery as an append-only log: the registry's full history, for SQL.

Every registration, deletion and alias move is one row appended to `registry_events` with a streaming
insert (insertAll), its event key as the insertId; users read the current state through the views
`models` (the same columns and values the MERGE-maintained table gave) and `aliases`
(shared/schemas/*.view.sql, which Terraform creates too). No DML runs on the write path: real BigQuery
runs at most 2 mutating statements per table at once, each taking seconds and scanning the table, so a
version of 50 files uploaded together was 50 queued MERGEs. Appends have no such limit.

insertId de-duplication is best effort (a minute, and bqemulator does none), so the views count each
event once by its key themselves: a redelivery that appends again changes nothing a reader sees.
A registration is appended only when `models` lacks its record_key, a deletion only when the row is
there and not yet deleted, and an alias move only when it moves: the answers (`created`, `found`) are
the MERGE table's. Two deliveries racing past that check both append; the views keep the first.
FanOutRegistryStore, which answers from Firestore, appends registrations without the check
(append_registration): there the read would only cost a query job.
Superseding is derived in the view (the newest generation of an object), so nothing is updated later.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from shared.adapters.bigquery_statements import (
    ensure_partitioned_table,
    plain_row,
    run_query,
)
from shared.adapters.gcp_errors import translate_errors
from shared.errors import ConfigError, TransientError
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
    sorted_moves,
    summarize_models,
)
from shared.quality_gate import GateDecision

if TYPE_CHECKING:
    from google.cloud import bigquery

    from shared.adapters.bigquery_inserts import StreamingInserts

_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_PATH = _SCHEMAS / "ml_registry.models.json"  # the columns of the `models` view
EVENTS_SCHEMA_PATH = _SCHEMAS / "ml_registry.registry_events.json"
MODELS_VIEW_PATH = _SCHEMAS / "ml_registry.models.view.sql"
ALIASES_VIEW_PATH = _SCHEMAS / "ml_registry.aliases.view.sql"
EVENTS_TABLE = "registry_events"
ALIASES_VIEW = "aliases"
DEFAULT_TIMEOUT_S = 30.0
_MOVE_COLUMNS = "env, model, alias, version, previous_version, moved_by, moved_at"


def view_query(path: Path, events_table_id: str) -> str:
    """A view's SQL with its events table filled in (Terraform's templatefile reads the same file)."""
    return Template(path.read_text()).substitute(events_table=events_table_id)


def _public_row(row: Any) -> dict[str, Any]:
    """A result row in the shape SqliteRegistryStore returns: ISO timestamps, metadata as a dict."""
    out = plain_row(row)
    metadata = out.get("metadata")
    out["metadata"] = json.loads(metadata) if isinstance(metadata, str) else dict(metadata or {})
    out["format_unsafe"] = bool(out.get("format_unsafe"))
    return out


def _move(row: Any) -> AliasMove:
    out = plain_row(row)
    previous = out["previous_version"]
    return AliasMove(
        env=out["env"],
        model=out["model"],
        alias=out["alias"],
        version=int(out["version"]),
        previous_version=int(previous) if previous is not None else None,
        moved_by=out["moved_by"],
        moved_at=out["moved_at"],
    )


class BigQueryRegistryTable:
    """`table_id` names the `models` view; the events table and the `aliases` view are its siblings."""

    def __init__(
        self,
        client: bigquery.Client,
        table_id: str,
        *,
        inserts: StreamingInserts | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """`client` runs the queries and creates the tables; `inserts` appends (over REST: the registration
        path then never touches the SDK, and a lazily built `client` is never built there)."""
        self._client = client
        self._inserts = inserts
        self._table_id = table_id
        dataset = table_id.rsplit(".", 1)[0]
        self.events_table_id = f"{dataset}.{EVENTS_TABLE}"
        self.aliases_view_id = f"{dataset}.{ALIASES_VIEW}"
        self._timeout_s = timeout_s

    # -- plumbing --------------------------------------------------------------------------------
    def _query(self, sql: str, params: list[Any] | None = None, *, what: str) -> Any:
        sql = (
            sql.replace("{table}", f"`{self._table_id}`")
            .replace("{events}", f"`{self.events_table_id}`")
            .replace("{aliases}", f"`{self.aliases_view_id}`")
        )
        return run_query(self._client, sql, params or [], timeout_s=self._timeout_s, what=what)

    @staticmethod
    def _param(name: str, kind: str, value: Any) -> Any:
        from google.cloud import bigquery

        return bigquery.ScalarQueryParameter(name, kind, value)

    def _append(self, event: dict[str, Any], *, what: str) -> None:
        """One streaming insert, its event key as the insertId."""
        if self._inserts is None:
            raise ConfigError("BigQueryRegistryTable was built without streaming inserts: it cannot append")
        with translate_errors(what):
            errors = self._inserts.insert(self.events_table_id, [event], [event["event_key"]])
        if errors:  # a row refused (schema drift, a quota): the redelivery tries again, the log says why
            raise TransientError(f"{what}: the event was not appended: {errors}")

    def ensure_table(self) -> None:
        """Create the dataset, the events table and the views when missing (emulators, first run)."""
        from google.cloud import bigquery

        ensure_partitioned_table(
            self._client,
            self.events_table_id,
            EVENTS_SCHEMA_PATH,
            partition_field="event_time",
            clustering=["model", "env", "kind"],
            timeout_s=self._timeout_s,
        )
        retry = bigquery.DEFAULT_RETRY.with_deadline(self._timeout_s)
        for view_id, path in ((self._table_id, MODELS_VIEW_PATH), (self.aliases_view_id, ALIASES_VIEW_PATH)):
            view = bigquery.Table(view_id)
            view.view_query = view_query(path, self.events_table_id)
            with translate_errors(f"create view {view_id}"):
                self._client.create_table(view, exists_ok=True, retry=retry, timeout=self._timeout_s)

    # -- writes ----------------------------------------------------------------------------------
    def record(self, artifact: ModelArtifact) -> RecordResult:
        """One read and, for a new record_key, one append: the files of a version arrive together."""
        _, (seen,) = self._query(
            "SELECT COUNTIF(record_key = @record_key) AS found,"
            " MAX(IF(bucket = @bucket AND object_name = @object_name, generation, NULL)) AS newest,"
            " MAX(IF(deleted_at IS NULL AND superseded_by_generation IS NULL, version, NULL)) AS latest"
            " FROM {table} WHERE env = @env AND model = @model",
            [
                self._param("record_key", "STRING", artifact.record_key),
                self._param("bucket", "STRING", artifact.ref.bucket),
                self._param("object_name", "STRING", artifact.ref.name),
                self._param("env", "STRING", artifact.env),
                self._param("model", "STRING", artifact.model),
            ],
            what=f"find {artifact.record_key}",
        )
        latest = int(seen["latest"]) if seen["latest"] is not None else None
        if seen["found"]:
            return RecordResult(created=False, latest_version=latest)
        self.append_registration(artifact)
        # The new row is live unless a newer generation of its object is registered; superseding older
        # generations of the same object (same version) leaves the set of live versions as it was.
        if seen["newest"] is None or int(seen["newest"]) < artifact.ref.generation:
            latest = max(latest or artifact.version, artifact.version)
        return RecordResult(created=True, latest_version=latest)

    def append_registration(self, artifact: ModelArtifact) -> None:
        """Append the registration without reading first, for a caller whose answer comes from another store
        (FanOutRegistryStore, behind the idempotency claim). The read `record` makes is a query job: on
        BigQuery the slowest step of a registration, on bqemulator ~100 ms of register_model's cold start
        (benchmarks/cold_start.py). A repeat (a redelivery after a failure) appends a copy, which the views
        count once: they keep a key's first registration, and insertId drops the copy within a minute."""
        row = artifact.to_row()
        del row["deleted_at"], row["superseded_by_generation"]  # derived by the view
        event = row | {"event_key": f"registered|{artifact.record_key}", "kind": "registered"}
        self._append(event | {"event_time": row["registered_at"]}, what=f"record {artifact.record_key}")

    def mark_deleted(self, ref: ObjectRef, deleted_at: datetime) -> DeleteResult:
        key = self._param("record_key", "STRING", ref.key)
        _, found = self._query(
            "SELECT env, model, deleted_at FROM {table} WHERE record_key = @record_key LIMIT 1",
            [key],
            what=f"find {ref.key}",
        )
        if not found:
            return DeleteResult(found=False, latest_version=None)
        env, model = found[0]["env"], found[0]["model"]
        if found[0]["deleted_at"] is None:  # the first deletion time stands
            event = {
                "event_key": f"deleted|{ref.key}",
                "kind": "deleted",
                "event_time": deleted_at.isoformat(),
                "env": env,
                "model": model,
                "record_key": ref.key,
                "bucket": ref.bucket,
                "object_name": ref.name,
                "generation": ref.generation,
                "deleted_at": deleted_at.isoformat(),
            }
            self._append(event, what=f"mark deleted {ref.key}")
        return DeleteResult(found=True, latest_version=self._latest(env, model))

    def set_alias(
        self, model: str, env: str, alias: str, version: int, *, by: str, at: datetime, forward_only: bool = False
    ) -> AliasResult:
        alias = alias_name(alias)
        what = f"set alias {env}/{model}/{alias}"
        where = [
            self._param("env", "STRING", env),
            self._param("model", "STRING", model),
        ]
        _, current = self._query(
            f"SELECT {_MOVE_COLUMNS} FROM {{aliases}} WHERE env = @env AND model = @model AND alias = @alias",
            [*where, self._param("alias", "STRING", alias)],
            what=what,
        )
        # Read, then appended: no transaction here (the fan-out's Firestore side is the one that holds).
        if current and (
            int(current[0]["version"]) == version or (forward_only and int(current[0]["version"]) > version)
        ):
            return AliasResult(moved=False, current=_move(current[0]))
        _, rows = self._query(
            "SELECT env, model, version, deleted_at, superseded_by_generation FROM {table}"
            " WHERE env = @env AND model = @model",
            where,
            what=what,
        )
        check_alias_target([plain_row(r) for r in rows], env, model, version)
        move = AliasMove(
            env=env,
            model=model,
            alias=alias,
            version=version,
            previous_version=int(current[0]["version"]) if current else None,
            moved_by=by,
            moved_at=at.isoformat(),
        )
        fields = move.as_dict()
        event = {k: v for k, v in fields.items() if k != "moved_at"} | {
            "event_key": f"alias_moved|{env}|{model}|{alias}|{move.moved_at}|{version}",
            "kind": "alias_moved",
            "event_time": move.moved_at,
        }
        self._append(event, what=what)
        return AliasResult(moved=True, current=move)

    def record_decision(self, decision: GateDecision) -> bool:
        """A gate decision is one `gate_decided` event, the decision itself in its JSON `metadata`."""
        key = f"gate_decided|{decision.record_key}"
        what = f"record gate decision {decision.record_key}"
        _, (seen,) = self._query(
            "SELECT COUNT(*) AS found FROM {events} WHERE kind = 'gate_decided' AND event_key = @key",
            [self._param("key", "STRING", key)],
            what=what,
        )
        if seen["found"]:
            return False
        bucket, _, rest = decision.record_key.partition("/")
        name, _, generation = rest.rpartition("#")
        event = {
            "event_key": key,
            "kind": "gate_decided",
            "event_time": decision.decided_at,
            "env": decision.env,
            "model": decision.model,
            "version": decision.version,
            "record_key": decision.record_key,
            "bucket": bucket,
            "object_name": name,
            "generation": int(generation) if generation.isdigit() else None,
            "metadata": json.dumps(decision.as_dict(), sort_keys=True),
            "event_id": decision.event_id or None,
        }
        self._append(event, what=what)
        return True

    def decisions(self, model: str, env: str | None = None) -> list[GateDecision]:
        params = [self._param("model", "STRING", model)] + ([self._param("env", "STRING", env)] if env else [])
        _, rows = self._query(
            "SELECT metadata FROM {events} WHERE kind = 'gate_decided' AND model = @model"
            + (" AND env = @env" if env else "")
            + " QUALIFY ROW_NUMBER() OVER (PARTITION BY event_key ORDER BY event_time) = 1",
            params,
            what=f"gate decisions of {model}",
        )
        found = []
        for row in rows:
            metadata = plain_row(row)["metadata"]
            found.append(GateDecision.from_dict(json.loads(metadata) if isinstance(metadata, str) else dict(metadata)))
        return sorted(found, key=lambda d: (d.env, d.version, d.decided_at, d.record_key))

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

    def aliases(self, model: str, env: str | None = None) -> list[AliasMove]:
        params = [self._param("model", "STRING", model)] + ([self._param("env", "STRING", env)] if env else [])
        _, rows = self._query(
            f"SELECT {_MOVE_COLUMNS} FROM {{aliases}} WHERE model = @model"
            + (" AND env = @env" if env else "")
            + " ORDER BY env, alias",
            params,
            what=f"aliases of {model}",
        )
        return [_move(r) for r in rows]

    def alias_history(self, model: str, env: str | None = None) -> list[AliasMove]:
        params = [self._param("model", "STRING", model)] + ([self._param("env", "STRING", env)] if env else [])
        _, rows = self._query(
            "SELECT env, model, alias, version, previous_version, moved_by, event_time AS moved_at FROM {events}"
            " WHERE kind = 'alias_moved' AND model = @model"
            + (" AND env = @env" if env else "")
            + " QUALIFY ROW_NUMBER() OVER (PARTITION BY event_key ORDER BY event_time) = 1",
            params,
            what=f"alias history of {model}",
        )
        return sorted_moves([_move(r) for r in rows])
