"""What every BigQuery adapter needs: a statement that fails in bounded time, and its tables created.

The client's defaults retry a 500 for 10 minutes, and any job_retry wraps jobs.insert in a 10-minute
loop that ignores its own deadline, so job retries are off: every statement our adapters run is
idempotent, and the platform's redelivery is the retry loop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.adapters.gcp_errors import translate_errors
from shared.errors import TransientError

if TYPE_CHECKING:
    from google.cloud import bigquery


@cache
def schema_fields(schema_path: Path) -> tuple[dict[str, str], ...]:
    """A table's columns, from the JSON schema file Terraform reads too."""
    return tuple(json.loads(schema_path.read_text()))


def plain_row(row: Any) -> dict[str, Any]:
    """A result row as a dict with ISO timestamps: the shape the SQLite stores return."""
    return {name: value.isoformat() if isinstance(value, datetime) else value for name, value in row.items()}


def retry_later(exc: Any) -> bool:
    """BigQuery's refusals that pass with time: rate limits (a 403) and DML queued past its limit (a 400)."""
    reasons = {e.get("reason") for e in getattr(exc, "errors", None) or [] if isinstance(e, dict)}
    return bool(reasons & {"rateLimitExceeded", "jobRateLimitExceeded"}) or "concurrent update" in str(exc).lower()


def parameter_value(kind: str, value: Any) -> Any:
    """A row's value as a query parameter of the column's type (rows carry ISO strings for timestamps)."""
    if value is None:
        return None
    if kind == "TIMESTAMP" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if kind == "FLOAT64" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == "JSON":
        # The client encodes the Python value itself, with NaN allowed: BigQuery's JSON has none.
        json.dumps(value, allow_nan=False)
    return value


def run_query(
    client: bigquery.Client, sql: str, params: Sequence[Any] = (), *, timeout_s: float, what: str
) -> tuple[Any, list[Any]]:
    """Run one statement, failing within about `timeout_s`; the job and its rows."""
    from google.api_core.exceptions import BadRequest, Forbidden
    from google.cloud import bigquery

    retry = bigquery.DEFAULT_RETRY.with_deadline(timeout_s)
    config = bigquery.QueryJobConfig(
        query_parameters=list(params), job_timeout_ms=int(timeout_s * 1000), use_legacy_sql=False
    )
    with translate_errors(what):
        try:
            job = client.query(sql, job_config=config, retry=retry, timeout=timeout_s, job_retry=None)
            rows = list(job.result(retry=retry, timeout=timeout_s, job_retry=None))
        except (BadRequest, Forbidden) as exc:
            if retry_later(exc):
                raise TransientError(f"{what}: {exc}") from exc
            raise
    return job, rows


def ensure_partitioned_table(
    client: bigquery.Client,
    table_id: str,
    schema_path: Path,
    *,
    partition_field: str,
    clustering: Sequence[str],
    timeout_s: float,
) -> None:
    """Create the dataset and the day-partitioned, clustered table when missing (emulators, first run)."""
    from google.cloud import bigquery

    project, dataset, _ = table_id.split(".")
    table = bigquery.Table(table_id, schema=client.schema_from_json(str(schema_path)))
    table.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=partition_field)
    table.clustering_fields = list(clustering)
    retry = bigquery.DEFAULT_RETRY.with_deadline(timeout_s)
    with translate_errors(f"create {table_id}"):
        client.create_dataset(bigquery.Dataset(f"{project}.{dataset}"), exists_ok=True, retry=retry, timeout=timeout_s)
        client.create_table(table, exists_ok=True, retry=retry, timeout=timeout_s)
