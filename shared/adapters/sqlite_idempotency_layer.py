"""Powertools idempotency persistence on SQLite, for the rollout Lambda on the embedded profile.

The cloud and the emulators use powertools' own DynamoDBPersistenceLayer; this layer keeps the same
rules (put only if absent, expired, or an in-progress record whose Lambda timed out) so the handler
runs the very same `idempotent_function` path everywhere, a laptop included.
"""

from __future__ import annotations

import time
from pathlib import Path

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord

from shared.adapters.sqlite_files import connection, create_schema, write_transaction

_SCHEMA = """CREATE TABLE IF NOT EXISTS powertools_idempotency (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, expiration INTEGER, in_progress_expiration INTEGER,
    data TEXT, validation TEXT)"""


class SqlitePersistenceLayer(BasePersistenceLayer):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = Path(path)
        create_schema(self._path, _SCHEMA)

    def _record(self, row) -> DataRecord:
        return DataRecord(
            idempotency_key=row["id"],
            status=row["status"],
            expiry_timestamp=row["expiration"],
            in_progress_expiry_timestamp=row["in_progress_expiration"],
            response_data=row["data"] or "",
            payload_hash=row["validation"] or "",
        )

    def _get_record(self, idempotency_key) -> DataRecord:
        row = (
            connection(self._path)
            .execute("SELECT * FROM powertools_idempotency WHERE id = ?", (idempotency_key,))
            .fetchone()
        )
        if row is None:
            raise IdempotencyItemNotFoundError
        return self._record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        now_s, now_ms = int(time.time()), int(time.time() * 1000)
        with write_transaction(self._path) as conn:
            row = conn.execute(
                "SELECT * FROM powertools_idempotency WHERE id = ?", (data_record.idempotency_key,)
            ).fetchone()
            if row is not None:
                expired = row["expiration"] is not None and row["expiration"] < now_s
                timed_out = (
                    row["status"] == STATUS_CONSTANTS["INPROGRESS"]
                    and row["in_progress_expiration"] is not None
                    and row["in_progress_expiration"] < now_ms
                )
                if not (expired or timed_out):
                    raise IdempotencyItemAlreadyExistsError(old_data_record=self._record(row))
            conn.execute(
                "INSERT OR REPLACE INTO powertools_idempotency VALUES (?, ?, ?, ?, ?, ?)",
                (
                    data_record.idempotency_key,
                    data_record.status,
                    data_record.expiry_timestamp,
                    data_record.in_progress_expiry_timestamp,
                    data_record.response_data,
                    data_record.payload_hash,
                ),
            )

    def _update_record(self, data_record: DataRecord) -> None:
        with write_transaction(self._path) as conn:
            conn.execute(
                "UPDATE powertools_idempotency SET status = ?, expiration = ?, data = ?, validation = ? WHERE id = ?",
                (
                    data_record.status,
                    data_record.expiry_timestamp,
                    data_record.response_data,
                    data_record.payload_hash,
                    data_record.idempotency_key,
                ),
            )

    def _delete_record(self, data_record: DataRecord) -> None:
        with write_transaction(self._path) as conn:
            conn.execute("DELETE FROM powertools_idempotency WHERE id = ?", (data_record.idempotency_key,))
