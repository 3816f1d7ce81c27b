"""PredictionSink on the BigQuery table `ml_monitoring.predictions` (day-partitioned on served_at,
clustered by model): streaming inserts, each row's insertId `request_id:row`.

Appends only, no DML: a capture batch is hundreds of rows every few seconds per instance, far past what
BigQuery's mutating statements allow. insertId de-duplication is best effort (and the emulator does none):
a retried batch may leave a row twice, which a drift histogram does not notice; readers who need exactly
once take one row per (request_id, row).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.adapters.bigquery_statements import ensure_partitioned_table
from shared.adapters.gcp_errors import translate_errors
from shared.errors import TransientError

if TYPE_CHECKING:
    from google.cloud import bigquery

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "ml_monitoring.predictions.json"
DEFAULT_TIMEOUT_S = 30.0
ROWS_PER_INSERT = 500


def table_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "request_id": record["request_id"],
        "row": record["row"],
        "served_at": record["served_at"].astimezone(UTC).isoformat(),
        "model": record["model"],
        "version": record["version"],
        "model_version": f"v{record['version']}",
        "env": record["env"],
        "kind": record["kind"],
        "features": json.dumps(record.get("features") or {}, allow_nan=False, default=str),  # JSON as a string
        "prediction": record.get("prediction"),
        "label": record.get("label"),
        "confidence": record.get("confidence"),
    }


class BigQueryPredictionSink:
    def __init__(self, client: bigquery.Client, table_id: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._client = client
        self._table_id = table_id
        self._timeout_s = timeout_s

    def ensure_table(self) -> None:
        """Create the dataset and table when missing (emulators; Terraform creates them in the cloud)."""
        ensure_partitioned_table(
            self._client,
            self._table_id,
            SCHEMA_PATH,
            partition_field="served_at",
            clustering=["model", "request_id"],  # /feedback looks a row up by request id
            timeout_s=self._timeout_s,
        )

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        """In requests of ROWS_PER_INSERT rows (BigQuery's recommendation for streaming inserts; a request
        may not pass 10 MB): a request that fails raises, naming how many rows the earlier ones inserted."""
        from google.cloud import bigquery

        rows = [table_row(r) for r in records]  # CapturedRecords builds each record when read: read once
        ids = [f"{r['request_id']}:{r['row']}" for r in rows]
        retry = bigquery.DEFAULT_RETRY.with_deadline(self._timeout_s)
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = slice(start, start + ROWS_PER_INSERT)
            with translate_errors(f"insert into {self._table_id} ({start} of {len(rows)} rows inserted before)"):
                errors = self._client.insert_rows_json(
                    self._table_id, rows[chunk], row_ids=ids[chunk], retry=retry, timeout=self._timeout_s
                )
            if errors:
                refused = f"{len(errors)} rows refused ({start} of {len(rows)} inserted before)"
                raise TransientError(f"{self._table_id}: {refused}: {str(errors[:2])[:300]}")
