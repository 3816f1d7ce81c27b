"""DriftRunStore on the BigQuery table `ml_monitoring.drift_runs`: one summary row per drift run.

Rows go in with a parameterised MERGE on run_key rather than a streaming insert: insertId
de-duplication is best effort (the emulator does none), and the MERGE's affected-row count says
whether this delivery was the first. `latest` returns the row in the shape SqliteDriftRunStore gives
(ISO timestamps, drifted_features as a list, dataset_drifted as a bool), so both backends compare equal.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.adapters._gcp_errors import translate_errors
from shared.adapters.bigquery_registry import _retry_later
from shared.adapters.sqlite_drift_runs import SCHEMA_PATH
from shared.errors import TransientError

if TYPE_CHECKING:
    from google.cloud import bigquery

DEFAULT_TIMEOUT_S = 30.0


@cache
def schema_fields() -> tuple[dict[str, str], ...]:
    """The table's columns, from the JSON schema file Terraform reads too."""
    return tuple(json.loads(SCHEMA_PATH.read_text()))


def _parameter_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "TIMESTAMP" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if kind == "FLOAT64" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _public_row(row: Any) -> dict[str, Any]:
    """A result row in the shape SqliteDriftRunStore returns."""
    out = dict(row.items())
    for name, value in out.items():
        if isinstance(value, datetime):
            out[name] = value.isoformat()
    out["drifted_features"] = list(out.get("drifted_features") or [])
    out["dataset_drifted"] = bool(out.get("dataset_drifted"))
    return out


class BigQueryDriftRunStore:
    def __init__(self, client: bigquery.Client, table_id: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._client = client
        self._table_id = table_id
        self._timeout_s = timeout_s

    # -- plumbing --------------------------------------------------------------------------------
    def _query(self, sql: str, params: list[Any] | None = None, *, what: str) -> Any:
        """Run one statement, failing within about `timeout_s`.

        The client's defaults retry a 500 for 10 minutes, and any job_retry wraps jobs.insert in a
        10-minute loop that ignores its own deadline, so job retries are off: every statement here is
        idempotent, and the platform's redelivery is the retry loop.
        """
        from google.api_core.exceptions import BadRequest, Forbidden
        from google.cloud import bigquery

        retry = bigquery.DEFAULT_RETRY.with_deadline(self._timeout_s)
        config = bigquery.QueryJobConfig(
            query_parameters=params or [], job_timeout_ms=int(self._timeout_s * 1000), use_legacy_sql=False
        )
        with translate_errors(what):
            try:
                job = self._client.query(
                    sql.replace("{table}", f"`{self._table_id}`"),
                    job_config=config,
                    retry=retry,
                    timeout=self._timeout_s,
                    job_retry=None,
                )
                rows = list(job.result(retry=retry, timeout=self._timeout_s, job_retry=None))
            except (BadRequest, Forbidden) as exc:
                if _retry_later(exc):
                    raise TransientError(f"{what}: {exc}") from exc
                raise
        return job, rows

    def ensure_table(self) -> None:
        """Create the dataset and the day-partitioned, clustered table when missing (emulators, first run)."""
        from google.cloud import bigquery

        project, dataset, _ = self._table_id.split(".")
        table = bigquery.Table(self._table_id, schema=self._client.schema_from_json(str(SCHEMA_PATH)))
        table.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field="started_at")
        table.clustering_fields = ["model", "env"]
        retry = bigquery.DEFAULT_RETRY.with_deadline(self._timeout_s)
        with translate_errors(f"create {self._table_id}"):
            self._client.create_dataset(
                bigquery.Dataset(f"{project}.{dataset}"), exists_ok=True, retry=retry, timeout=self._timeout_s
            )
            self._client.create_table(table, exists_ok=True, retry=retry, timeout=self._timeout_s)

    # -- DriftRunStore ---------------------------------------------------------------------------
    def record(self, row: dict[str, Any]) -> bool:
        from google.cloud import bigquery

        fields = schema_fields()
        params: list[Any] = []
        for f in fields:
            name, kind, value = f["name"], f["type"], row.get(f["name"])
            if f["mode"] == "REPEATED":  # typed, so that an empty list still binds as ARRAY<STRING>
                params.append(bigquery.ArrayQueryParameter(name, kind, list(value or [])))
            else:
                params.append(bigquery.ScalarQueryParameter(name, kind, _parameter_value(kind, value)))
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
        from google.cloud import bigquery

        columns = ", ".join(f["name"] for f in schema_fields())
        _, rows = self._query(
            f"SELECT {columns} FROM {{table}} WHERE model = @model AND env = @env ORDER BY started_at DESC LIMIT 1",
            [
                bigquery.ScalarQueryParameter("model", "STRING", model),
                bigquery.ScalarQueryParameter("env", "STRING", env),
            ],
            what=f"latest drift run of {env}/{model}",
        )
        return _public_row(rows[0]) if rows else None
