"""FeatureProfiler that sends each side to the engine where its data lives.

Parquet in a bucket goes to DuckDB (embedded profile: the local buckets), a `bq://` table to
BigQuery SQL. Both engines produce the same ReferenceProfile, so the reference can come from one and
the current window from the other (a training set in Parquet, serving logs in BigQuery).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from shared.errors import ConfigError

if TYPE_CHECKING:
    from shared.adapters.local_parquet_profiler import LocalParquetProfiler
    from shared.drift.bigquery_profiler import BigQueryProfiler
    from shared.drift.duckdb_profiler import Profile, ReferenceProfile
    from shared.events.drift import DataLocation


class DriftSourceProfiler:
    def __init__(self, *, parquet: LocalParquetProfiler | None = None, bigquery: BigQueryProfiler | None = None):
        self._parquet = parquet
        self._bigquery = bigquery

    def _engine_for(self, location: DataLocation):
        engine = self._bigquery if location.table else self._parquet
        if engine is None:
            kind = "BigQuery tables" if location.table else "Parquet in GCS"
            raise ConfigError(f"this profile cannot read {kind} yet ({location.uri})")
        return engine

    def _table(self, location: DataLocation, window: tuple[datetime | None, datetime | None]):
        from shared.drift.bigquery_profiler import TableSource

        return TableSource(location.table or "", location.timestamp_column, *window)

    def reference(self, location: DataLocation, features: Sequence[str] = ()) -> ReferenceProfile:
        engine = self._engine_for(location)
        if location.table:
            return engine.reference(self._table(location, (location.start, location.end)), features or None)
        return engine.reference(location, features)

    def profile(
        self,
        reference: DataLocation,
        current: DataLocation,
        *,
        current_window: tuple[datetime | None, datetime | None],
        features: Sequence[str] = (),
    ) -> Profile:
        ref = self.reference(reference, features)
        engine = self._engine_for(current)
        if current.table:
            return engine.compare(ref, self._table(current, current_window))
        return engine.compare(ref, current, current_window)
