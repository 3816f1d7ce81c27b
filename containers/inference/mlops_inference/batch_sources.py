"""Where the batch job reads rows: Parquet files (a local bucket folder or GCS) and BigQuery tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa

from mlops_inference.batch_rows import (
    DEFAULT_TIMEOUT_S,
    IDENTIFIER,
    READ_BUFFER_BYTES,
    TABLE_ID,
    TIMESTAMP,
    BatchInputError,
    UsageError,
    aware_utc,
    unique_columns,
)
from mlops_inference.batch_shards import ONE_TASK, Shard

if TYPE_CHECKING:
    from shared.payloads.drift import DataLocation
    from shared.ports import ParquetFiles


# -- Parquet source ------------------------------------------------------------------------------
class ParquetSource:
    """Parquet files a `ParquetFiles` resolves (a local bucket folder, or GCS objects pinned to a generation),
    read batch by batch, only the columns needed, optionally in a time window (`start` <= ts < `end`).

    With a `shard` (task i of n), only that task's share of the (file, row group) pairs, in path order
    (batch_shards.py): n tasks over the same input read every row group exactly once between them."""

    def __init__(
        self,
        files: ParquetFiles,
        location: DataLocation,
        *,
        key_columns: Sequence[str] = (),
        shard: Shard = ONE_TASK,
    ) -> None:
        self._files = files
        self._open = _opener(files)
        self.location = location
        self.key_columns = tuple(key_columns)
        self.shard = shard
        self.uri = location.uri
        self._resolved: list[str] | None = None

    def _paths(self) -> list[str]:
        if self._resolved is None:
            self._resolved = sorted(path for path, _ in self._files.resolve(self.location))
            if not self._resolved:
                raise BatchInputError(f"{self.uri}: no Parquet file matches")
        return self._resolved

    def row_groups(self) -> list[tuple[str, list[int]]]:
        """This task's (file, row groups) to read: every file's footer is read to count its row groups."""
        import pyarrow.parquet as pq

        if not self.shard.sharded:
            return [(path, []) for path in self._paths()]  # [] = the whole file
        units = []
        for path in self._paths():
            with _storage_failures(self._files), self._open(path) as handle:
                groups = pq.ParquetFile(handle).metadata.num_row_groups
            units += [(path, group) for group in range(groups)]
        mine: dict[str, list[int]] = {}
        for path, group in self.shard.take(units):
            mine.setdefault(path, []).append(group)
        return list(mine.items())

    def schema(self, columns: Sequence[str]) -> pa.Schema:
        import pyarrow.parquet as pq

        first = self._paths()[0]
        with _storage_failures(self._files), self._open(first) as handle:
            found = pq.ParquetFile(handle).schema_arrow
        names = unique_columns(self.key_columns, columns)
        self._require(found, [*names, *self._window_column()], first)
        for name in self._window_column():
            if not pa.types.is_timestamp(found.field(name).type):
                raise BatchInputError(f"{first}: timestamp column {name!r} is {found.field(name).type}")
        return pa.schema([found.field(name) for name in names])

    def batches(self, columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        names = unique_columns(self.key_columns, columns)
        wanted = unique_columns(names, self._window_column())
        for path, groups in self.row_groups():
            with _storage_failures(self._files), self._open(path) as handle:
                parquet = pq.ParquetFile(handle, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)
                self._require(parquet.schema_arrow, wanted, path)
                chosen = groups or None
                for batch in parquet.iter_batches(
                    batch_size=batch_size, row_groups=chosen, columns=wanted, use_threads=False
                ):
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
    moment = aware_utc(moment)
    return pa.scalar(moment if kind.tz else moment.replace(tzinfo=None), type=kind)


def _opener(files: ParquetFiles) -> Callable[[str], IO[bytes]]:
    """How to open a resolved path: a local file, or a GCS object read in ranges at its pinned generation through
    the storage client `GcsParquetFiles` holds (the fsspec filesystem DuckDB reads the same objects with)."""
    from shared.adapters.gcs_parquet_files import GcsParquetFiles, pinned_filesystem

    if isinstance(files, GcsParquetFiles):
        filesystem = pinned_filesystem(files)
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
    """A table read page by page: `list_rows` (free, no query) without a window or shard, a query with one.

    With a `shard` of more than one task, the rows whose key columns hash to this task (FARM_FINGERPRINT of
    the keys as JSON, modulo the task count): every row in exactly one task, whatever the table's order."""

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
        shard: Shard = ONE_TASK,
    ) -> None:
        if not TABLE_ID.match(table_id):
            raise UsageError(f"BigQuery table {table_id!r} is not project.dataset.table")
        if (start or end) and not timestamp_column:
            raise UsageError("a time window needs a timestamp column")
        if shard.sharded and not key_columns:
            raise UsageError("a BigQuery input split among tasks needs --key-column: its rows go by the key's hash")
        self.shard = shard
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
        from shared.adapters.gcp_errors import translate_errors

        with translate_errors(f"read the schema of {self.uri}"):
            table = self._client.get_table(self.table_id, **self._calls())
        self._fields = {field.name: field for field in table.schema}
        names = unique_columns(self.key_columns, columns)
        for name in [*names, *([self.timestamp_column] if self.timestamp_column else [])]:
            _identifier(name)
            if name not in self._fields:
                raise BatchInputError(f"{self.uri} has no column {name!r} (columns: {', '.join(self._fields)})")
        return self._schema_of(names)

    def batches(self, columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        from shared.adapters.gcp_errors import translate_errors

        names = unique_columns(self.key_columns, columns)
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

        if self.start is None and self.end is None and not self.shard.sharded:
            fields = [self._fields[name] for name in names]
            return self._client.list_rows(self.table_id, selected_fields=fields, page_size=page_size, **self._calls())
        conditions, params = [], []
        if self.shard.sharded:
            conditions.append(f"{shard_expression(self.key_columns, self.shard.count)} = @task_index")
            params.append(bigquery.ScalarQueryParameter("task_index", "INT64", self.shard.index))
        for name, operator, bound in (("start", ">=", self.start), ("end", "<", self.end)):
            if bound is not None:
                conditions.append(f"`{self.timestamp_column}` {operator} @{name}")
                params.append(bigquery.ScalarQueryParameter(name, "TIMESTAMP", aware_utc(bound)))
        columns = ", ".join(f"`{n}`" for n in names)
        sql = f"SELECT {columns} FROM `{self.table_id}` WHERE {' AND '.join(conditions)}"
        config = bigquery.QueryJobConfig(
            query_parameters=params, use_legacy_sql=False, job_timeout_ms=int(self._timeout_s * 1000)
        )
        job = self._client.query(sql, job_config=config, job_retry=None, **self._calls())
        return job.result(page_size=page_size, job_retry=None, **self._calls())


def shard_expression(keys: Sequence[str], count: int) -> str:
    """The task a row belongs to, 0 to count - 1, from its key columns (ABS after MOD: ABS of INT64's least
    value overflows)."""
    struct = ", ".join(f"`{_identifier(key)}`" for key in keys)
    return f"ABS(MOD(FARM_FINGERPRINT(TO_JSON_STRING(STRUCT({struct}))), {int(count)}))"


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
    if not IDENTIFIER.match(name):
        raise UsageError(f"{name!r} is not a column name (letters, digits, underscores)")
    return name
