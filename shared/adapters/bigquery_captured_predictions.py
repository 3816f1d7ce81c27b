"""CapturedPredictions on the BigQuery table `ml_monitoring.predictions` that `BigQueryPredictionSink` appends to.

One parameterized query per lookup, pruned to the day partitions of the last `days` days by a bound on
`served_at` (the partitioning column) and to the model's blocks by `model` (the clustering column). The
sink's inserts are at least once, so a row may be there twice: the newest is taken. Rows streamed in the
last few seconds are already visible to a query (the streaming buffer is read).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.adapters.bigquery_statements import run_query
from shared.ports import CapturedPrediction

if TYPE_CHECKING:
    from google.cloud import bigquery

DEFAULT_DAYS = 7
DEFAULT_TIMEOUT_S = 10.0  # a /feedback request waits on it

QUERY = (
    "SELECT version, served_at, prediction, label, confidence FROM {table}"
    " WHERE served_at >= @since AND model = @model AND env = @env AND request_id = @request_id AND `row` = @row"
    " ORDER BY served_at DESC LIMIT 1"
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BigQueryCapturedPredictions:
    def __init__(
        self,
        client: bigquery.Client,
        table_id: str,
        *,
        days: int = DEFAULT_DAYS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if days < 1:
            raise ValueError(f"days: at least 1, got {days}")
        self._client = client
        self._table_id = table_id
        self._days = days
        self._timeout_s = timeout_s
        self._clock = clock

    def since(self) -> datetime:
        """The start of the oldest day searched: UTC midnight of the day `days` x 24 h ago, as the Parquet
        adapter's day partitions (every day that overlaps the last `days` x 24 h, whole)."""
        today = self._clock().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return today - timedelta(days=self._days)

    def find(self, model: str, env: str, request_id: str, row: int) -> CapturedPrediction | None:
        from google.cloud import bigquery

        params = [
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", self.since()),
            bigquery.ScalarQueryParameter("model", "STRING", model),
            bigquery.ScalarQueryParameter("env", "STRING", env),
            bigquery.ScalarQueryParameter("request_id", "STRING", request_id),
            bigquery.ScalarQueryParameter("row", "INT64", row),
        ]
        _, rows = run_query(
            self._client,
            QUERY.replace("{table}", f"`{self._table_id}`"),
            params,
            timeout_s=self._timeout_s,
            what=f"find the capture of {request_id} row {row}",
        )
        if not rows:
            return None
        found = rows[0]
        served_at = found["served_at"]
        if isinstance(served_at, str):  # the emulator may answer a TIMESTAMP as text
            served_at = datetime.fromisoformat(served_at.replace("Z", "+00:00"))
        return CapturedPrediction(
            request_id=request_id,
            row=row,
            version=int(found["version"]),
            served_at=served_at,
            prediction=None if found["prediction"] is None else float(found["prediction"]),
            label=found["label"],
            confidence=None if found["confidence"] is None else float(found["confidence"]),
        )
