"""DriftRunStore on the BigQuery table `ml_monitoring.drift_runs`: one summary row per drift run.

Rows go in with a parameterised MERGE on run_key rather than a streaming insert: insertId
de-duplication is best effort (the emulator does none), and the MERGE's affected-row count says
whether this delivery was the first. `latest` and `history` return rows in the shape SqliteDriftRunStore
gives (ISO timestamps, drifted_features a list, dataset_drifted a bool, feature_scores a dict), so both
backends compare equal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.adapters.bigquery_statements import (
    ensure_partitioned_table,
    parameter_value,
    plain_row,
    run_query,
    schema_fields,
)
from shared.adapters.sqlite_drift_runs import SCHEMA_PATH, public_row

if TYPE_CHECKING:
    from google.cloud import bigquery

DEFAULT_TIMEOUT_S = 30.0


class BigQueryDriftRunStore:
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

    def ensure_table(self) -> None:
        """Create the dataset and the day-partitioned, clustered table when missing (emulators, first run)."""
        ensure_partitioned_table(
            self._client,
            self._table_id,
            SCHEMA_PATH,
            partition_field="started_at",
            clustering=["model", "env"],
            timeout_s=self._timeout_s,
        )

    # -- DriftRunStore ---------------------------------------------------------------------------
    def record(self, row: dict[str, Any]) -> bool:
        from google.cloud import bigquery

        fields = schema_fields(SCHEMA_PATH)
        params: list[Any] = []
        for f in fields:
            name, kind, value = f["name"], f["type"], row.get(f["name"])
            if f["mode"] == "REPEATED":  # typed, so that an empty list still binds as ARRAY<STRING>
                params.append(bigquery.ArrayQueryParameter(name, kind, list(value or [])))
            else:
                params.append(bigquery.ScalarQueryParameter(name, kind, parameter_value(kind, value)))
        names = [f["name"] for f in fields]
        job, _ = self._query(
            f"MERGE {{table}} AS t USING (SELECT {', '.join(f'@{n} AS {n}' for n in names)}) AS s"
            " ON t.run_key = s.run_key"
            f" WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join('s.' + n for n in names)})",
            params,
            what=f"record drift run {row.get('run_key')}",
        )
        return bool(job.num_dml_affected_rows)

    def latest(self, model: str, env: str) -> dict[str, Any] | None:
        found = self.history(model, env, limit=1)
        return found[0] if found else None

    def history(self, model: str, env: str, limit: int = 20) -> list[dict[str, Any]]:
        from google.cloud import bigquery

        columns = ", ".join(f["name"] for f in schema_fields(SCHEMA_PATH))
        _, rows = self._query(
            f"SELECT {columns} FROM {{table}} WHERE model = @model AND env = @env"
            " ORDER BY started_at DESC LIMIT @limit",
            [
                bigquery.ScalarQueryParameter("model", "STRING", model),
                bigquery.ScalarQueryParameter("env", "STRING", env),
                bigquery.ScalarQueryParameter("limit", "INT64", int(limit)),
            ],
            what=f"last {limit} drift runs of {env}/{model}",
        )
        return [public_row(plain_row(row)) for row in rows]
