"""PredictionSink writing Parquet files to a bucket: `gs://ml-predictions-{env}/{model}/dt=YYYY-MM-DD/
part-<uuid>.parquet`, through the ObjectStore port (a local folder on the embedded profile, fake-gcs-server
on the emulators, GCS in the cloud).

One file per batch, model and day. The features are columns of their own (a row's features by name, an
image's summary features), so a drift job reads a day's or a week's captures as it reads any Parquet:
`gs://ml-predictions-dev/fraud-detector/dt=*/*.parquet` with `timestamp_column: served_at`. A feature
named like one of the record's own columns is kept as `feature_<name>`.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.captured_records import CapturedRecords

if TYPE_CHECKING:
    from shared.ports import ObjectStore

BUCKET = "ml-predictions-{env}"
COLUMNS = (
    "request_id",
    "row",
    "served_at",
    "model",
    "version",
    "model_version",
    "env",
    "kind",
    "prediction",
    "label",
    "confidence",
)


def day_prefix(model: str, day: date) -> str:
    """Where a model's captures of one UTC day are: what the lookup of /feedback lists."""
    return f"{model}/dt={day.isoformat()}/"


def object_name(model: str, day: date) -> str:
    return f"{day_prefix(model, day)}part-{uuid.uuid4().hex}.parquet"


def parquet_bytes(records: Sequence[dict[str, Any]]) -> bytes:
    """The records as one Parquet file: COLUMNS, then each feature any record has (None where one lacks
    it). Records the capture made come as columns (CapturedRecords), read without a dict per row: the
    writer thread holds the GIL while it reads Python objects, and the service's event loop waits."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    captured = records if isinstance(records, CapturedRecords) else CapturedRecords.of(records)
    columns: dict[str, Any] = dict(captured.columns)
    # a few distinct times (one per forward pass) converted once each: Arrow reads a datetime slowly
    times = {at: _microseconds(at) for at in set(columns["served_at"])}
    micros = pa.array(list(map(times.__getitem__, columns["served_at"])), pa.int64())
    columns["served_at"] = micros.cast(pa.timestamp("us", tz="UTC"))
    names = {version: f"v{version}" for version in set(columns["version"])}  # a few versions, many rows
    columns["model_version"] = list(map(names.__getitem__, columns["version"]))
    for name, values in captured.features.items():
        columns[f"feature_{name}" if name in COLUMNS else name] = values
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def _microseconds(at: datetime) -> int:
    """Since the epoch, UTC; a naive time is taken as UTC, as Arrow takes it."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ObjectStorePredictionSink:
    def __init__(self, objects: ObjectStore, bucket: str = BUCKET) -> None:
        self._objects = objects
        self._bucket = bucket

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        captured = records if isinstance(records, CapturedRecords) else CapturedRecords.of(records)
        for (env, model, day), part in captured.parts():
            self._objects.put(
                self._bucket.format(env=env),
                object_name(model, day),
                parquet_bytes(part),
                content_type="application/vnd.apache.parquet",
            )
