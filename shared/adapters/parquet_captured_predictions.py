"""CapturedPredictions over the Parquet files `ObjectStorePredictionSink` writes: `{bucket}/{model}/dt=YYYY-MM-DD/
part-<uuid>.parquet`, through the ObjectStore port (a local folder, fake-gcs-server, GCS).

A request id says nothing of when it was served, so a lookup reads the day partitions of every UTC day
that overlaps the last `days` x 24 h, newest day and file first, and stops at the first match: each file is read whole
and filtered on request_id and row by pyarrow (its row-group statistics skip the groups that cannot
match). That is a few files per day on a quiet service and many on a busy one: the cost of a lookup grows
with the window, which is why it is bounded (INFERENCE_FEEDBACK_JOIN_DAYS) and why a busy service in
the cloud captures to BigQuery instead. A file that is not Parquet (a stray upload) is skipped, logged.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.parquet_prediction_sink import BUCKET, day_prefix
from shared.ports import CapturedPrediction

if TYPE_CHECKING:
    from shared.ports import ObjectStore

log = logging.getLogger(__name__)
DEFAULT_DAYS = 7
_COLUMNS = ["request_id", "row", "version", "served_at", "prediction", "label", "confidence"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def match(data: bytes, request_id: str, row: int) -> CapturedPrediction | None:
    """The record of (request_id, row) in one Parquet file, or None; ValueError-like pyarrow errors for
    a file that is not Parquet."""
    import pyarrow.parquet as pq  # the service's writer thread has it loaded; a function never gets here

    source = pq.ParquetFile(io.BytesIO(data))
    present = [c for c in _COLUMNS if c in source.schema_arrow.names]
    if "request_id" not in present or "row" not in present:
        return None
    table = pq.read_table(
        io.BytesIO(data), columns=present, filters=[("request_id", "=", request_id), ("row", "=", row)]
    )
    if table.num_rows == 0:
        return None
    found = {name: table.column(name)[0].as_py() for name in present}
    served_at = found.get("served_at")
    if isinstance(served_at, datetime) and served_at.tzinfo is None:
        served_at = served_at.replace(tzinfo=UTC)
    return CapturedPrediction(
        request_id=request_id,
        row=row,
        version=int(found["version"]),
        served_at=served_at,  # type: ignore[arg-type]  # the sink always writes it
        prediction=_optional_float(found.get("prediction")),
        label=None if found.get("label") is None else str(found["label"]),
        confidence=_optional_float(found.get("confidence")),
    )


class ObjectStoreCapturedPredictions:
    def __init__(
        self,
        objects: ObjectStore,
        bucket: str = BUCKET,
        *,
        days: int = DEFAULT_DAYS,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if days < 1:
            raise ValueError(f"days: at least 1, got {days}")
        self._objects = objects
        self._bucket = bucket
        self._days = days
        self._clock = clock

    def find(self, model: str, env: str, request_id: str, row: int) -> CapturedPrediction | None:
        import pyarrow as pa

        bucket = self._bucket.format(env=env)
        today = self._clock().astimezone(UTC).date()
        for back in range(self._days + 1):  # every UTC day that overlaps the last `days` x 24 h
            prefix = day_prefix(model, today - timedelta(days=back))
            files = [o for o in self._objects.list_objects(bucket, prefix) if o.name.endswith(".parquet")]
            for stored in sorted(files, key=lambda o: o.generation, reverse=True):  # newest first
                data = self._objects.read(bucket, stored.name)
                if data is None:  # deleted since the listing (a lifecycle rule)
                    continue
                try:
                    found = match(data, request_id, row)
                except (pa.ArrowException, OSError) as exc:  # not Parquet: a stray file, never a reason to fail
                    log.warning("captured predictions: skipped gs://%s/%s: %r", bucket, stored.name, exc)
                    continue
                if found is not None:
                    return found
        return None
