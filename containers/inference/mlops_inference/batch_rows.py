"""The batch prediction job's core: the source and sink protocols, the run loop, the row-level rules
(see batch_job.py for the job as a whole, batch_sources.py and batch_sinks.py for the backends)."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from mlops_inference.model import InvalidRows, LoadedModel, ModelSpec
from shared.errors import PermanentError

if TYPE_CHECKING:
    pass


DEFAULT_BATCH_SIZE = 4096
DEFAULT_TIMEOUT_S = 60.0
READ_BUFFER_BYTES = 1 << 20  # per column: what a Parquet read holds besides the batch
GCS_CHUNK_BYTES = 8 << 20  # what a GCS upload holds before sending (a multiple of 256 KiB)
BIGQUERY_ROWS_PER_REQUEST = 500  # BigQuery's advice for streaming inserts
TIMESTAMP = pa.timestamp("us", tz="UTC")
RESERVED = ("model", "model_version", "predicted_at", "error")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TABLE_ID = re.compile(r"^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+$")


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
    started, predicted_at = timer(), aware_utc(clock())
    features = [feature.name for feature in tabular(model).features]
    keys = tuple(source.key_columns)
    input_schema = _nullable(source.schema(features))
    check_input(tabular(model), input_schema, source.uri)
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


def tabular(model: LoadedModel) -> ModelSpec:
    """The model's spec: the job scores rows of features, which an image model does not take."""
    if not isinstance(model.spec, ModelSpec):
        raise UsageError(f"{model.name} v{model.version} is an image model: the batch job scores tabular models")
    return model.spec


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
    output = tabular(model).output
    names = [*keys, output, *RESERVED]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise UsageError(f"output column {clash[0]!r} would be written twice (a key column named like an output?)")
    fields = [input_schema.field(key) for key in keys]
    fields += [
        pa.field(output, pa.float64()),
        pa.field("model", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("predicted_at", TIMESTAMP),
        pa.field("error", pa.string()),
    ]
    about = {"model": model.name, "model_version": model.version, "input": uri}
    return pa.schema(fields, metadata={"mlops_events.batch_job": json.dumps(about)})


NOT_FINITE = "the model gave no finite prediction for this row (its input is out of the model's range)"


def predict_batch(
    model: LoadedModel, batch: pa.RecordBatch, keys: Sequence[str], schema: pa.Schema, predicted_at: datetime
) -> tuple[pa.RecordBatch, int]:
    """The output batch (same rows, same order) and how many of its rows the model could not take."""
    rows = feature_rows(tabular(model), batch)
    errors = row_errors(tabular(model), rows)
    valid = [i for i in range(len(rows)) if i not in errors]
    predictions: list[float | None] = [None] * len(rows)
    if valid:
        for i, score in zip(valid, model.predict([rows[i] for i in valid]), strict=True):
            if math.isfinite(score):
                predictions[i] = score
            else:  # the model overflowed on this row: an error like the service's 422, not a NaN score
                errors[i] = NOT_FINITE
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


def aware_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def unique_columns(keys: Sequence[str], columns: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*keys, *columns]))
