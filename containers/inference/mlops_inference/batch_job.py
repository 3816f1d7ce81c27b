"""The batch prediction job (a Cloud Run job): pull rows, predict, push the predictions, one batch at a time.

Memory is bounded by the batch size whatever the input's size: a source yields Arrow record batches of at most
`batch_size` rows (Parquet: `iter_batches` with a 1 MiB read buffer per column, never a whole row group; BigQuery:
one result page), the job re-cuts them to exactly `batch_size` (files end mid-batch), predicts, and hands each
batch to the sink, which writes it through (Parquet: one row group per batch; BigQuery: streaming inserts).

Rows the model cannot take (`ModelSpec.validate`: a missing value, NaN or inf, a wrong type) are not dropped: they
come out with a null prediction and an `error` naming the field, and are counted in the report. A column the model
needs that the input lacks, or has with an unusable type, fails the run before anything is written.

Output columns: the key columns (`--key-column`, passed through with their type), the prediction (a float, in the
column the spec names: `spec.output`), `model`, `model_version`, `predicted_at` (the run's start, UTC, the same for
every row of a run, so it identifies the run) and `error`.

Reruns:
- Parquet sink: one file per job, named from what defines the job (model, version, input, window, keys), written
  under a temporary name (`.incomplete-*`, which no `*.parquet` glob matches) and moved into place on success. A
  failed run leaves no file (and the previous run's file, if any, untouched); a rerun of the same job replaces the
  file in one step: readers see the old file or the new one, never half of one or both.
- BigQuery sink: every batch is inserted once (`insert_rows_json`, row ids `run_id:row_index`, run_id unique per
  run), so BigQuery can drop the duplicates of a request the client library itself retried (best effort; bqemulator
  ignores row ids). Streamed rows cannot be taken back: a failed run leaves the batches it had inserted, and a rerun
  appends a complete new set with a later `predicted_at`. Read the latest run per key
  (`QUALIFY ROW_NUMBER() OVER (PARTITION BY key ORDER BY predicted_at DESC) = 1`), or delete a failed run's rows by
  its `predicted_at` once they have left the streaming buffer.

    python -m mlops_inference.batch_job --model NAME --env ENV --input URI --output URI \\
        [--key-column C]... [--batch-size N] [--timestamp-column C [--start ISO] [--end ISO]]

URIs are `gs://bucket/path/*.parquet` (input: a glob; output: a prefix, or a `.parquet` object) or
`bq://project.dataset.table`. The model is the latest live version the registry has for the model and env.
Prints the report as one JSON line. Exit status: 0 done, 2 bad arguments or no model, 1 the run failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from mlops_inference.model import InvalidRows, LoadedModel, ModelSpec
from shared.errors import PermanentError

if TYPE_CHECKING:
    from shared.adapters.parquet_profiler import ParquetFiles
    from shared.events.drift import DataLocation

DEFAULT_BATCH_SIZE = 4096
DEFAULT_TIMEOUT_S = 60.0
READ_BUFFER_BYTES = 1 << 20  # per column: what a Parquet read holds besides the batch
GCS_CHUNK_BYTES = 8 << 20  # what a GCS upload holds before sending (a multiple of 256 KiB)
BIGQUERY_ROWS_PER_REQUEST = 500  # BigQuery's advice for streaming inserts
TIMESTAMP = pa.timestamp("us", tz="UTC")
RESERVED = ("model", "model_version", "predicted_at", "error")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE_ID = re.compile(r"^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+$")


class BatchInputError(PermanentError):
    """The input cannot feed the model (a missing column, a column of the wrong type): nothing was written."""


class UsageError(ValueError):
    """A bad argument, or nothing to run: the CLI exits 2."""


def utc_now() -> datetime:
    return datetime.now(UTC)


# -- ports ---------------------------------------------------------------------------------------
class BatchSource(Protocol):
    uri: str
    key_columns: tuple[str, ...]

    def schema(self, columns: Sequence[str]) -> pa.Schema:
        """The key columns then `columns`, as the batches will carry them. Raises BatchInputError naming a
        column the input lacks."""

    def batches(self, columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        """Record batches of at most `batch_size` rows holding (at least) the key columns and `columns`."""


class BatchSink(Protocol):
    uri: str

    def open(self, schema: pa.Schema) -> None: ...

    def write(self, batch: pa.RecordBatch) -> None: ...

    def commit(self) -> str:
        """Make the run's output visible; where it is."""

    def abort(self) -> None:
        """Undo what can be undone after a failure (never raises)."""


@dataclass(frozen=True)
class BatchReport:
    model: str
    model_version: int
    input: str
    output: str
    rows_read: int
    rows_written: int
    rows_invalid: int
    batches: int
    batch_size: int
    predicted_at: datetime
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "predicted_at": self.predicted_at.isoformat(), "seconds": round(self.seconds, 3)}


# -- the job -------------------------------------------------------------------------------------
def run_batch(
    model: LoadedModel,
    source: BatchSource,
    sink: BatchSink,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    clock: Callable[[], datetime] = utc_now,
    timer: Callable[[], float] = time.monotonic,
) -> BatchReport:
    """Every input row gives exactly one output row, in input order; on any failure the sink is aborted."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    started, predicted_at = timer(), _aware(clock())
    features = [feature.name for feature in model.spec.features]
    keys = tuple(source.key_columns)
    input_schema = _nullable(source.schema(features))
    check_input(model.spec, input_schema, source.uri)
    schema = output_schema(model, input_schema, keys, source.uri)
    read = written = invalid = batches = 0
    try:
        sink.open(schema)
        incoming = (_conform(batch, input_schema, source.uri) for batch in source.batches(features, batch_size))
        for batch in rebatch(incoming, batch_size):
            out, bad = predict_batch(model, batch, keys, schema, predicted_at)
            sink.write(out)
            read, written, invalid, batches = read + batch.num_rows, written + out.num_rows, invalid + bad, batches + 1
        output = sink.commit()
    except BaseException:
        sink.abort()
        raise
    return BatchReport(
        model=model.name,
        model_version=model.version,
        input=source.uri,
        output=output,
        rows_read=read,
        rows_written=written,
        rows_invalid=invalid,
        batches=batches,
        batch_size=batch_size,
        predicted_at=predicted_at,
        seconds=timer() - started,
    )


def check_input(spec: ModelSpec, schema: pa.Schema, uri: str) -> None:
    """Each feature a column of a usable type: numbers for numeric features, strings for categorical ones."""
    for feature in spec.features:
        kind = schema.field(feature.name).type
        if feature.kind == "numeric" and not _is_number(kind):
            raise BatchInputError(f"{uri}: column {feature.name!r} is {kind}, the model wants a number")
        if feature.kind == "categorical" and not _is_text(kind):
            raise BatchInputError(f"{uri}: column {feature.name!r} is {kind}, the model wants a string")


def output_schema(model: LoadedModel, input_schema: pa.Schema, keys: Sequence[str], uri: str) -> pa.Schema:
    """Keys as they come, then the prediction (named by the spec), the model, its version, when, and why not."""
    names = [*keys, model.spec.output, *RESERVED]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise UsageError(f"output column {clash[0]!r} would be written twice (a key column named like an output?)")
    fields = [input_schema.field(key) for key in keys]
    fields += [
        pa.field(model.spec.output, pa.float64()),
        pa.field("model", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("predicted_at", TIMESTAMP),
        pa.field("error", pa.string()),
    ]
    about = {"model": model.name, "model_version": model.version, "input": uri}
    return pa.schema(fields, metadata={"mlops_events.batch_job": json.dumps(about)})


def predict_batch(
    model: LoadedModel, batch: pa.RecordBatch, keys: Sequence[str], schema: pa.Schema, predicted_at: datetime
) -> tuple[pa.RecordBatch, int]:
    """The output batch (same rows, same order) and how many of its rows the model could not take."""
    rows = feature_rows(model.spec, batch)
    errors = row_errors(model.spec, rows)
    valid = [i for i in range(len(rows)) if i not in errors]
    predictions: list[float | None] = [None] * len(rows)
    if valid:
        for i, score in zip(valid, model.predict([rows[i] for i in valid]), strict=True):
            predictions[i] = score
    n = batch.num_rows
    columns = [batch.column(key) for key in keys] + [
        pa.array(predictions, pa.float64()),
        pa.array([model.name] * n, pa.string()),
        pa.array([model.version] * n, pa.int64()),
        pa.array([predicted_at] * n, TIMESTAMP),
        pa.array([errors.get(i) for i in range(n)], pa.string()),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema), len(errors)


def feature_rows(spec: ModelSpec, batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """Request-shaped rows of the features only (integers as floats; nulls as None, which validate reports)."""
    import pyarrow.compute as pc

    values = []
    for feature in spec.features:
        column = batch.column(feature.name)
        values.append((pc.cast(column, pa.float64()) if feature.kind == "numeric" else column).to_pylist())
    names = [feature.name for feature in spec.features]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def row_errors(spec: ModelSpec, rows: Sequence[dict[str, Any]]) -> dict[int, str]:
    """Row index -> `field: problem; field: problem` for the rows validation rejects."""
    try:
        spec.validate(rows)
    except InvalidRows as exc:
        found: dict[int, list[str]] = {}
        for error in exc.errors:
            found.setdefault(int(error["row"]), []).append(f"{error['field']}: {error['message']}")
        return {row: "; ".join(messages) for row, messages in found.items()}
    return {}


def rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Batches of exactly `size` rows (the last one smaller), in order, whatever sizes come in: a Parquet file
    ending mid-batch does not make a short batch. Holds at most one incoming batch plus `size` rows."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(size - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == size:
                yield _concat(pending)
                pending, count = [], 0
    if count:
        yield _concat(pending)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    return batches[0] if len(batches) == 1 else pa.concat_batches(batches)


def _conform(batch: pa.RecordBatch, schema: pa.Schema, uri: str) -> pa.RecordBatch:
    """The batch with exactly the schema's columns and types (files of one input may differ, say int32/int64)."""
    missing = [name for name in schema.names if name not in batch.schema.names]
    if missing:
        raise BatchInputError(f"{uri}: a batch has no column {missing[0]!r}")
    batch = batch.select(schema.names)
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    try:
        return batch.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise BatchInputError(f"{uri}: a batch does not fit the input's schema: {exc}") from None


def _nullable(schema: pa.Schema) -> pa.Schema:
    return pa.schema([field.with_nullable(True) for field in schema])


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _columns(keys: Sequence[str], columns: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*keys, *columns]))


# -- Parquet source ------------------------------------------------------------------------------
class ParquetSource:
    """Parquet files a `ParquetFiles` resolves (a local bucket folder, or GCS objects pinned to a generation),
    read batch by batch, only the columns needed, optionally in a time window (`start` <= ts < `end`)."""

    def __init__(self, files: ParquetFiles, location: DataLocation, *, key_columns: Sequence[str] = ()) -> None:
        self._files = files
        self._open = _opener(files)
        self.location = location
        self.key_columns = tuple(key_columns)
        self.uri = location.uri
        self._resolved: list[str] | None = None

    def _paths(self) -> list[str]:
        if self._resolved is None:
            self._resolved = [path for path, _ in self._files.resolve(self.location)]
        return self._resolved

    def schema(self, columns: Sequence[str]) -> pa.Schema:
        import pyarrow.parquet as pq

        first = self._paths()[0]
        with _storage_failures(self._files), self._open(first) as handle:
            found = pq.ParquetFile(handle).schema_arrow
        names = _columns(self.key_columns, columns)
        self._require(found, [*names, *self._window_column()], first)
        for name in self._window_column():
            if not pa.types.is_timestamp(found.field(name).type):
                raise BatchInputError(f"{first}: timestamp column {name!r} is {found.field(name).type}")
        return pa.schema([found.field(name) for name in names])

    def batches(self, columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        names = _columns(self.key_columns, columns)
        wanted = _columns(names, self._window_column())
        for path in self._paths():
            with _storage_failures(self._files), self._open(path) as handle:
                parquet = pq.ParquetFile(handle, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)
                self._require(parquet.schema_arrow, wanted, path)
                for batch in parquet.iter_batches(batch_size=batch_size, columns=wanted, use_threads=False):
                    batch = self._in_window(batch)
                    if batch.num_rows:
                        yield batch.select(names)

    def _window_column(self) -> list[str]:
        return [self.location.timestamp_column] if self.location.timestamp_column else []

    def _in_window(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        import pyarrow.compute as pc

        column, start, end = self.location.timestamp_column, self.location.start, self.location.end
        if not column or (start is None and end is None):
            return batch
        values = batch.column(column)
        keep = pc.is_valid(values)
        if start is not None:
            keep = pc.and_(keep, pc.greater_equal(values, _bound(start, values.type)))
        if end is not None:
            keep = pc.and_(keep, pc.less(values, _bound(end, values.type)))
        return batch.filter(keep)

    @staticmethod
    def _require(schema: pa.Schema, names: Sequence[str], path: str) -> None:
        missing = [name for name in names if name not in schema.names]
        if missing:
            raise BatchInputError(f"{path} has no column {missing[0]!r} (columns: {', '.join(schema.names)})")


def _bound(moment: datetime, kind: pa.DataType) -> pa.Scalar:
    """A window bound comparable with the column: a naive column holds UTC times."""
    moment = _aware(moment)
    return pa.scalar(moment if kind.tz else moment.replace(tzinfo=None), type=kind)


def _opener(files: ParquetFiles) -> Callable[[str], IO[bytes]]:
    """How to open a resolved path: a local file, or a GCS object read in ranges at its pinned generation through
    the storage client `GcsParquetFiles` holds (the fsspec filesystem DuckDB reads the same objects with)."""
    from shared.adapters.gcs_parquet_files import GcsParquetFiles, _pinned_filesystem

    if isinstance(files, GcsParquetFiles):
        filesystem = _pinned_filesystem(files)
        return lambda path: filesystem.open(path, "rb")
    return lambda path: open(path, "rb")  # closed by the caller's `with`


@contextmanager
def _storage_failures(files: ParquetFiles) -> Iterator[None]:
    """A storage failure met inside pyarrow's read comes out as the TransientError it was (run the job again)."""
    try:
        yield
    except Exception:
        failure = files.take_failure()
        if failure is not None:
            raise failure from None
        raise


# -- BigQuery source -----------------------------------------------------------------------------
class BigQuerySource:
    """A table read page by page: `list_rows` (free, no query) without a window, a query with one."""

    def __init__(
        self,
        client: Any,
        table_id: str,
        *,
        key_columns: Sequence[str] = (),
        timestamp_column: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not _TABLE_ID.match(table_id):
            raise UsageError(f"BigQuery table {table_id!r} is not project.dataset.table")
        if (start or end) and not timestamp_column:
            raise UsageError("a time window needs a timestamp column")
        for name in (*key_columns, *([timestamp_column] if timestamp_column else [])):
            _identifier(name)
        self._client, self.table_id, self.key_columns = client, table_id, tuple(key_columns)
        self.timestamp_column, self.start, self.end = timestamp_column, start, end
        self._timeout_s = timeout_s
        self.uri = f"bq://{table_id}"
        self._fields: dict[str, Any] = {}

    def _calls(self) -> dict[str, Any]:
        from google.cloud import bigquery

        return {"retry": bigquery.DEFAULT_RETRY.with_deadline(self._timeout_s), "timeout": self._timeout_s}

    def schema(self, columns: Sequence[str]) -> pa.Schema:
        from shared.adapters._gcp_errors import translate_errors

        with translate_errors(f"read the schema of {self.uri}"):
            table = self._client.get_table(self.table_id, **self._calls())
        self._fields = {field.name: field for field in table.schema}
        names = _columns(self.key_columns, columns)
        for name in [*names, *([self.timestamp_column] if self.timestamp_column else [])]:
            _identifier(name)
            if name not in self._fields:
                raise BatchInputError(f"{self.uri} has no column {name!r} (columns: {', '.join(self._fields)})")
        return self._schema_of(names)

    def batches(self, columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        from shared.adapters._gcp_errors import translate_errors

        names = _columns(self.key_columns, columns)
        if not self._fields:
            self.schema(columns)
        schema = self._schema_of(names)
        with translate_errors(f"read {self.uri}"):
            rows = self._rows(names, batch_size)
            for page in rows.pages:
                batch = pa.RecordBatch.from_pylist([{n: row[n] for n in names} for row in page], schema=schema)
                if batch.num_rows:
                    yield batch

    def _schema_of(self, names: Sequence[str]) -> pa.Schema:
        return pa.schema([pa.field(name, _arrow_type(self._fields[name], self.uri)) for name in names])

    def _rows(self, names: Sequence[str], page_size: int) -> Any:
        from google.cloud import bigquery

        if self.start is None and self.end is None:
            fields = [self._fields[name] for name in names]
            return self._client.list_rows(self.table_id, selected_fields=fields, page_size=page_size, **self._calls())
        conditions, params = [], []
        for name, operator, bound in (("start", ">=", self.start), ("end", "<", self.end)):
            if bound is not None:
                conditions.append(f"`{self.timestamp_column}` {operator} @{name}")
                params.append(bigquery.ScalarQueryParameter(name, "TIMESTAMP", _aware(bound)))
        sql = f"SELECT {', '.join(f'`{n}`' for n in names)} FROM `{self.table_id}` WHERE {' AND '.join(conditions)}"
        config = bigquery.QueryJobConfig(
            query_parameters=params, use_legacy_sql=False, job_timeout_ms=int(self._timeout_s * 1000)
        )
        job = self._client.query(sql, job_config=config, job_retry=None, **self._calls())
        return job.result(page_size=page_size, job_retry=None, **self._calls())


_BQ_TO_ARROW = {
    "STRING": pa.string(),
    "INT64": pa.int64(),
    "INTEGER": pa.int64(),
    "FLOAT64": pa.float64(),
    "FLOAT": pa.float64(),
    "NUMERIC": pa.decimal128(38, 9),
    "BOOL": pa.bool_(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": TIMESTAMP,
    "DATE": pa.date32(),
}


def _arrow_type(field: Any, uri: str) -> pa.DataType:
    if field.mode == "REPEATED" or field.field_type not in _BQ_TO_ARROW:
        raise BatchInputError(f"{uri}: column {field.name!r} is {field.mode} {field.field_type}: cannot read it")
    return _BQ_TO_ARROW[field.field_type]


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise UsageError(f"{name!r} is not a column name (letters, digits, underscores)")
    return name


# -- Parquet sink --------------------------------------------------------------------------------
class _LocalFile:
    """A file written under a hidden temporary name in its folder, renamed into place on commit."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.uri = str(self.path)
        self._temp = self.path.with_name(f".{self.path.name}.incomplete-{uuid.uuid4().hex[:8]}")
        self._handle: IO[bytes] | None = None

    def open(self) -> IO[bytes]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self._temp, "wb")  # noqa: SIM115 - closed by commit or abort
        return self._handle

    def commit(self) -> None:
        if self._handle is not None:
            self._handle.close()
        os.replace(self._temp, self.path)

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._temp.unlink(missing_ok=True)


class _GcsObject:
    """An object streamed to a temporary name (a resumable upload: memory is one chunk), then rewritten to its
    name on commit: the name only ever holds a complete file. A killed run leaves at most the temporary object."""

    def __init__(self, client: Any, bucket: str, name: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._client, self.bucket, self.name = client, bucket, name
        self.uri = f"gs://{bucket}/{name}"
        self._temp = f"{name}.incomplete-{uuid.uuid4().hex[:8]}"
        self._timeout_s = timeout_s
        self._writer: Any = None

    def _retry(self) -> Any:
        from google.cloud.storage.retry import DEFAULT_RETRY

        return DEFAULT_RETRY.with_deadline(self._timeout_s)

    def open(self) -> IO[bytes]:
        blob = self._client.bucket(self.bucket).blob(self._temp, chunk_size=GCS_CHUNK_BYTES)
        self._writer = blob.open(
            "wb", ignore_flush=True, content_type="application/vnd.apache.parquet", timeout=self._timeout_s
        )
        return self._writer

    def commit(self) -> None:
        from shared.adapters._gcp_errors import translate_errors

        bucket = self._client.bucket(self.bucket)
        with translate_errors(f"write {self.uri}"):
            self._writer.close()
            source, target, token = bucket.blob(self._temp), bucket.blob(self.name), None
            while True:
                token, _, _ = target.rewrite(source, token=token, timeout=self._timeout_s, retry=self._retry())
                if token is None:
                    break
            source.delete(timeout=self._timeout_s, retry=self._retry())

    def abort(self) -> None:
        # Already failing: an orphan temporary object, should its delete fail too, matches no *.parquet glob.
        with suppress(Exception):  # closing sends the last chunk: the temporary object exists, and is deleted at once
            if self._writer is not None:
                self._writer.close()
            self._client.bucket(self.bucket).blob(self._temp).delete(timeout=self._timeout_s, retry=self._retry())


class ParquetSink:
    """One Parquet file per run, one row group per batch, visible only once complete."""

    def __init__(self, target: _LocalFile | _GcsObject, *, compression: str = "zstd") -> None:
        self._target = target
        self._compression = compression
        self._writer: Any = None
        self.uri = target.uri
        self.row_groups = 0

    @classmethod
    def local(cls, path: Path) -> ParquetSink:
        return cls(_LocalFile(path))

    @classmethod
    def gcs(cls, client: Any, bucket: str, name: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> ParquetSink:
        return cls(_GcsObject(client, bucket, name, timeout_s=timeout_s))

    def open(self, schema: pa.Schema) -> None:
        import pyarrow.parquet as pq

        self._writer = pq.ParquetWriter(self._target.open(), schema, compression=self._compression)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch, row_group_size=max(batch.num_rows, 1))
        self.row_groups += 1

    def commit(self) -> str:
        self._writer.close()  # the footer; the file is still under its temporary name
        self._target.commit()
        return self.uri

    def abort(self) -> None:
        if self._writer is not None:
            with suppress(Exception):  # the footer goes to the temporary file, about to be deleted
                self._writer.close()
        self._target.abort()


# -- BigQuery sink -------------------------------------------------------------------------------
_ARROW_TO_BQ = (
    (pa.types.is_string, "STRING"),
    (pa.types.is_large_string, "STRING"),
    (pa.types.is_integer, "INT64"),
    (pa.types.is_floating, "FLOAT64"),
    (pa.types.is_boolean, "BOOL"),
    (pa.types.is_timestamp, "TIMESTAMP"),
    (pa.types.is_date, "DATE"),
)


def bigquery_type(field: pa.Field) -> str:
    """A key column's BigQuery type, as it came (a string stays STRING, an integer INT64)."""
    for test, kind in _ARROW_TO_BQ:
        if test(field.type):
            return kind
    raise BatchInputError(f"column {field.name!r} is {field.type}: not a type the BigQuery sink writes")


class BigQuerySink:
    """Streaming inserts into a table created when missing (partitioned by day of `predicted_at`)."""

    def __init__(
        self,
        client: Any,
        table_id: str,
        *,
        run_id: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        rows_per_request: int = BIGQUERY_ROWS_PER_REQUEST,
    ) -> None:
        if not _TABLE_ID.match(table_id):
            raise UsageError(f"BigQuery table {table_id!r} is not project.dataset.table")
        self._client, self.table_id = client, table_id
        self.run_id = run_id or uuid.uuid4().hex[:16]
        self._timeout_s, self._rows_per_request = timeout_s, rows_per_request
        self.uri = f"bq://{table_id}"
        self._next_row = 0

    def _calls(self) -> dict[str, Any]:
        from google.cloud import bigquery

        return {"retry": bigquery.DEFAULT_RETRY.with_deadline(self._timeout_s), "timeout": self._timeout_s}

    def open(self, schema: pa.Schema) -> None:
        from google.cloud import bigquery

        from shared.adapters._gcp_errors import translate_errors

        columns = [bigquery.SchemaField(f.name, bigquery_type(f)) for f in schema]
        table = bigquery.Table(self.table_id, schema=columns)
        table.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field="predicted_at"
        )
        project, dataset, _ = self.table_id.rsplit(".", 2)
        with translate_errors(f"create {self.uri}"):
            self._client.create_dataset(bigquery.Dataset(f"{project}.{dataset}"), exists_ok=True, **self._calls())
            existing = self._client.create_table(table, exists_ok=True, **self._calls())
        have = {field.name for field in existing.schema}
        missing = [column.name for column in columns if column.name not in have]
        if missing:
            raise BatchInputError(f"{self.uri} exists without column {missing[0]!r}: write to another table")

    def write(self, batch: pa.RecordBatch) -> None:
        from shared.adapters._gcp_errors import translate_errors

        rows = [{name: _json_value(value) for name, value in row.items()} for row in batch.to_pylist()]
        for offset in range(0, len(rows), self._rows_per_request):
            chunk = rows[offset : offset + self._rows_per_request]
            first = self._next_row + offset
            ids = [f"{self.run_id}:{first + i}" for i in range(len(chunk))]
            with translate_errors(f"insert into {self.uri}"):
                errors = self._client.insert_rows_json(self.table_id, chunk, row_ids=ids, **self._calls())
            if errors:
                raise PermanentError(f"{self.uri} rejected {len(errors)} of {len(chunk)} rows, first: {errors[0]}")
        self._next_row += len(rows)

    def commit(self) -> str:
        return self.uri

    def abort(self) -> None:
        """Streamed rows cannot be taken back (see the module docstring)."""


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _aware(value).isoformat()
    if hasattr(value, "isoformat"):  # a date
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- CLI -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Uri:
    scheme: str  # gs | bq
    bucket: str = ""
    path: str = ""
    table: str = ""

    @classmethod
    def parse(cls, raw: str, what: str) -> Uri:
        if raw.startswith("gs://"):
            bucket, _, path = raw[5:].partition("/")
            if not bucket or not path:
                raise UsageError(f"{what} {raw!r}: expected gs://bucket/path")
            return cls("gs", bucket=bucket, path=path)
        if raw.startswith("bq://"):
            table = raw[5:]
            if not _TABLE_ID.match(table):
                raise UsageError(f"{what} {raw!r}: expected bq://project.dataset.table")
            return cls("bq", table=table)
        raise UsageError(f"{what} {raw!r}: expected gs://bucket/path or bq://project.dataset.table")


def job_key(model: str, version: int, args: argparse.Namespace) -> str:
    """What defines the job, hashed: a rerun of the same job gets the same Parquet file name (and replaces it)."""
    identity = [model, version, args.input, args.timestamp_column, args.start, args.end, args.key_column]
    return hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()[:12]


def output_object(path: str, model: str, version: int, key: str) -> str:
    """A `.parquet` path is the file; anything else is a prefix the run's file goes under."""
    if path.endswith(".parquet"):
        return path
    prefix = path.rstrip("/")
    return f"{prefix}/{model}-v{version}-{key}.parquet" if prefix else f"{model}-v{version}-{key}.parquet"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_inference.batch_job", description="Batch predictions with a registered model."
    )
    parser.add_argument("--model", required=True, help="the registered model's name")
    parser.add_argument("--env", required=True, help="the registry environment (dev, staging, prod)")
    parser.add_argument("--input", required=True, help="gs://bucket/path/*.parquet or bq://project.dataset.table")
    parser.add_argument("--output", required=True, help="gs://bucket/prefix/ (or .../file.parquet) or bq://...")
    parser.add_argument("--key-column", action="append", default=[], help="an id column passed through (repeatable)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--timestamp-column", help="the column the time window applies to")
    parser.add_argument("--start", type=_iso, help="window start, inclusive (ISO 8601; UTC when naive)")
    parser.add_argument("--end", type=_iso, help="window end, exclusive")
    return parser


def _iso(raw: str) -> datetime:
    try:
        return _aware(datetime.fromisoformat(raw))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO 8601 time") from None


def _check_arguments(args: argparse.Namespace) -> tuple[Uri, Uri]:
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be positive, got {args.batch_size}")
    if (args.start or args.end) and not args.timestamp_column:
        raise UsageError("--start/--end need --timestamp-column")
    if args.start and args.end and args.start >= args.end:
        raise UsageError(f"--start {args.start.isoformat()} is not before --end {args.end.isoformat()}")
    return Uri.parse(args.input, "--input"), Uri.parse(args.output, "--output")


def build_source(deps: Any, uri: Uri, args: argparse.Namespace) -> BatchSource:
    if uri.scheme == "bq":
        return BigQuerySource(
            _bigquery(deps),
            uri.table,
            key_columns=args.key_column,
            timestamp_column=args.timestamp_column,
            start=args.start,
            end=args.end,
        )
    from shared.events.drift import DataLocation

    location = DataLocation(uri.bucket, uri.path, args.timestamp_column, args.start, args.end)
    return ParquetSource(_parquet_files(deps), location, key_columns=args.key_column)


def build_sink(deps: Any, uri: Uri, name: str, run_id: str) -> BatchSink:
    if uri.scheme == "bq":
        return BigQuerySink(_bigquery(deps), uri.table, run_id=run_id)
    if deps.profile == "embedded":
        return ParquetSink.local(Path(deps.settings.buckets_dir) / uri.bucket / name)
    return ParquetSink.gcs(deps._storage_client(), uri.bucket, name)


def _parquet_files(deps: Any) -> ParquetFiles:
    if deps.profile == "embedded":
        from shared.adapters.parquet_profiler import LocalParquetFiles

        return LocalParquetFiles(deps.settings.buckets_dir)
    from shared.adapters.gcs_parquet_files import GcsParquetFiles

    return GcsParquetFiles(deps._storage_client())


def _bigquery(deps: Any) -> Any:
    if deps.profile == "embedded":
        raise UsageError("bq:// needs the emulators or cloud profile (MLOPS_EVENTS_PROFILE); embedded has no BigQuery")
    return deps._bigquery_client()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed why
        return int(exc.code or 0)
    try:
        return _run(args)
    except UsageError as exc:
        print(f"batch_job: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"batch_job: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from mlops_inference.model_source import RegistryModelSource
    from shared.deps import current_deps

    source_uri, sink_uri = _check_arguments(args)
    deps = current_deps()
    models = RegistryModelSource(deps.registry, deps.objects, args.model, args.env)
    version = models.latest()
    if version is None:
        raise UsageError(f"no live version of {args.model!r} in env {args.env!r} in the registry")
    model = models.load(version)
    key = job_key(model.name, model.version, args)
    run_id = f"{key}-{uuid.uuid4().hex[:8]}"
    source = build_source(deps, source_uri, args)
    sink = build_sink(deps, sink_uri, output_object(sink_uri.path, model.name, model.version, key), run_id)
    report = run_batch(model, source, sink, batch_size=args.batch_size)
    print(json.dumps({**report.as_dict(), "job_key": key, "run_id": run_id}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
