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
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

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


def object_name(model: str, day: str) -> str:
    return f"{model}/dt={day}/part-{uuid.uuid4().hex}.parquet"


def parquet_bytes(records: Sequence[dict[str, Any]]) -> bytes:
    """The records as one Parquet file, built column by column (the writer thread's CPU is the service's)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, Any] = {name: [r.get(name) for r in records] for name in COLUMNS if name != "model_version"}
    columns["served_at"] = pa.array(columns["served_at"], pa.timestamp("us", tz="UTC"))
    columns["model_version"] = [f"v{r['version']}" for r in records]
    features = [r.get("features") or {} for r in records]
    for name in dict.fromkeys(k for f in features for k in f):  # every row's features, first seen first
        columns[f"feature_{name}" if name in COLUMNS else name] = [f.get(name) for f in features]
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


class ObjectStorePredictionSink:
    def __init__(self, objects: ObjectStore, bucket: str = BUCKET) -> None:
        self._objects = objects
        self._bucket = bucket

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            day = record["served_at"].astimezone(UTC).strftime("%Y-%m-%d")
            groups[(record["env"], record["model"], day)].append(record)
        for (env, model, day), rows in groups.items():
            self._objects.put(
                self._bucket.format(env=env),
                object_name(model, day),
                parquet_bytes(rows),
                content_type="application/vnd.apache.parquet",
            )
