"""DriftRunStore on the BigQuery table `ml_monitoring.drift_runs` (one row per run, MERGE on run_key)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.adapters._gcp_errors import translate_errors
from shared.adapters.sqlite_drift_runs import SCHEMA_PATH

if TYPE_CHECKING:
    from google.cloud import bigquery


class BigQueryDriftRunStore:
    def __init__(self, client: bigquery.Client, table_id: str, *, timeout_s: float = 30.0) -> None:
        self._client = client
        self._table_id = table_id
        self._timeout_s = timeout_s
        self._fields = json.loads(SCHEMA_PATH.read_text())

    def _query(self, sql: str, params: list[Any], *, what: str) -> Any:
        from google.cloud import bigquery

        retry = bigquery.DEFAULT_RETRY.with_deadline(self._timeout_s)
        config = bigquery.QueryJobConfig(query_parameters=params, job_timeout_ms=int(self._timeout_s * 1000))
        with translate_errors(what):
            # job_retry=None: the default wraps jobs.insert in a 10-minute loop; redelivery is our retry.
            job = self._client.query(
                sql.replace("{table}", f"`{self._table_id}`"),
                job_config=config,
                retry=retry,
                timeout=self._timeout_s,
                job_retry=None,
            )
            rows = list(job.result(retry=retry, timeout=self._timeout_s, job_retry=None))
        return job, rows

    def ensure_table(self) -> None:
        """Dataset and day-partitioned table, when missing (emulators, first run; Terraform in the cloud)."""
        from google.cloud import bigquery

        project, dataset, _ = self._table_id.split(".")
        table = bigquery.Table(self._table_id, schema=self._client.schema_from_json(str(SCHEMA_PATH)))
        table.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field="started_at")
        table.clustering_fields = ["model", "env"]
        with translate_errors(f"create {self._table_id}"):
            self._client.create_dataset(
                bigquery.Dataset(f"{project}.{dataset}"), exists_ok=True, timeout=self._timeout_s
            )
            self._client.create_table(table, exists_ok=True, timeout=self._timeout_s)

    def record(self, row: dict[str, Any]) -> bool:
        from google.cloud import bigquery

        params, selects = [], []
        for field in self._fields:
            name, kind, value = field["name"], field["type"], row.get(field["name"])
            if field["mode"] == "REPEATED":
                params.append(bigquery.ArrayQueryParameter(name, kind, list(value or [])))
            else:
                if kind == "TIMESTAMP" and isinstance(value, str):
                    value = datetime.fromisoformat(value)
                params.append(bigquery.ScalarQueryParameter(name, kind, value))
            selects.append(f"@{name} AS {name}")
        columns = ", ".join(f["name"] for f in self._fields)
        job, _ = self._query(
            f"MERGE {{table}} AS t USING (SELECT {', '.join(selects)}) AS s ON t.run_key = s.run_key"
            f" WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({', '.join('s.' + f['name'] for f in self._fields)})",
            params,
            what=f"record drift run {row.get('run_key')}",
        )
        return bool(job.num_dml_affected_rows)

    def latest(self, model: str, env: str) -> dict[str, Any] | None:
        from google.cloud import bigquery

        _, rows = self._query(
            "SELECT * FROM {table} WHERE model = @model AND env = @env ORDER BY started_at DESC LIMIT 1",
            [
                bigquery.ScalarQueryParameter("model", "STRING", model),
                bigquery.ScalarQueryParameter("env", "STRING", env),
            ],
            what=f"latest drift run of {env}/{model}",
        )
        if not rows:
            return None
        found = dict(rows[0].items())
        for name, value in found.items():
            if isinstance(value, datetime):
                found[name] = value.isoformat()
        found["drifted_features"] = list(found.get("drifted_features") or [])
        found["dataset_drifted"] = bool(found["dataset_drifted"])
        return found
