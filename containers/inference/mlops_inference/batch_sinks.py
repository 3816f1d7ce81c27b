"""Where the batch job writes predictions: a Parquet file (local or GCS, moved into place whole) or a
BigQuery table (streaming inserts)."""

from __future__ import annotations

import math
import os
import uuid
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from mlops_inference.batch_rows import (
    BIGQUERY_ROWS_PER_REQUEST,
    DEFAULT_TIMEOUT_S,
    GCS_CHUNK_BYTES,
    TABLE_ID,
    BatchInputError,
    UsageError,
    aware_utc,
)
from shared.errors import PermanentError


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
        from shared.adapters.gcp_errors import translate_errors

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
        if not TABLE_ID.match(table_id):
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

        from shared.adapters.gcp_errors import translate_errors

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
        from shared.adapters.gcp_errors import translate_errors

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
        return aware_utc(value).isoformat()
    if hasattr(value, "isoformat"):  # a date
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
