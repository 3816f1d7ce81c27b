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
import operator
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date
from itertools import chain
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


_BASE = tuple(name for name in COLUMNS if name != "model_version")  # model_version is derived from version
_BASE_VALUES = operator.itemgetter(*_BASE)


def day_prefix(model: str, day: date) -> str:
    """Where a model's captures of one UTC day are: what the lookup of /feedback lists."""
    return f"{model}/dt={day.isoformat()}/"


def object_name(model: str, day: date) -> str:
    return f"{day_prefix(model, day)}part-{uuid.uuid4().hex}.parquet"


def parquet_bytes(records: Sequence[dict[str, Any]]) -> bytes:
    """The records as one Parquet file, built column by column. The writer thread holds the GIL while it
    reads the records, and every millisecond of that the service's event loop waits: hence C-level loops
    (itemgetter, zip, chain) over per-field Python ones, about half the time at 1,000 rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        values = list(map(_BASE_VALUES, records))
    except KeyError:  # a record without every field (none the service makes): read field by field
        values = [tuple(r.get(name) for name in _BASE) for r in records]
    columns: dict[str, Any] = dict(zip(_BASE, map(list, zip(*values, strict=True)), strict=True))
    columns["served_at"] = pa.array(columns["served_at"], pa.timestamp("us", tz="UTC"))
    columns["model_version"] = [f"v{version}" for version in columns["version"]]
    features = [r.get("features") or {} for r in records]
    for name in dict.fromkeys(chain.from_iterable(features)):  # every row's features, first seen first
        columns[f"feature_{name}" if name in COLUMNS else name] = [f.get(name) for f in features]
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


class ObjectStorePredictionSink:
    def __init__(self, objects: ObjectStore, bucket: str = BUCKET) -> None:
        self._objects = objects
        self._bucket = bucket

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        groups: dict[tuple[str, str, date], list[dict[str, Any]]] = defaultdict(list)
        for record in records:  # the day as a date: formatted once per file, not once per row
            groups[(record["env"], record["model"], record["served_at"].astimezone(UTC).date())].append(record)
        for (env, model, day), rows in groups.items():
            self._objects.put(
                self._bucket.format(env=env),
                object_name(model, day),
                parquet_bytes(rows),
                content_type="application/vnd.apache.parquet",
            )
