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
from datetime import date
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
    it). Records the capture made come as packed columns (CapturedRecords), read without a Python object
    per value: the writer thread holds the GIL while it reads Python objects, and the service's event
    loop waits."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    captured = records if isinstance(records, CapturedRecords) else CapturedRecords.of(records)
    base, features = captured.arrow_columns()
    columns: dict[str, Any] = dict(base)
    columns["model_version"] = pc.binary_join_element_wise("v", base["version"].cast(pa.string()), "")
    for name, values in features.items():
        columns[f"feature_{name}" if name in COLUMNS else name] = values
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


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
