"""FeatureProfiler that sends each side to the engine where its data lives.

Parquet in a bucket goes to DuckDB (local buckets in the embedded profile, GCS elsewhere), a `bq://`
table to BigQuery SQL. Both engines produce the same ReferenceProfile, so the reference can come from
one and the current window from the other (a training set in Parquet, serving logs in BigQuery).

An engine names the field of a location it refuses; which side's location that was is known here, so
the request's field is reported whole: `reference.timestamp_column`, `current.uri`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import cached_property, partial
from typing import TYPE_CHECKING

from shared.errors import ConfigError
from shared.payloads.drift import location_of

if TYPE_CHECKING:
    from shared.drift.engines.bigquery_sql import BigQueryProfiler
    from shared.drift.engines.parquet_files import ParquetProfiler
    from shared.drift.profiles import Profile, ReferenceProfile
    from shared.drift.reference_cache import ReferenceCache
    from shared.payloads.drift import DataLocation


class DriftSourceProfiler:
    """Engines are built on first use: a Parquet-only run never needs a BigQuery client (or its settings)."""

    def __init__(
        self,
        *,
        parquet: Callable[[], ParquetProfiler] | None = None,
        bigquery: Callable[[], BigQueryProfiler] | None = None,
    ):
        self._parquet_factory = parquet
        self._bigquery_factory = bigquery

    @cached_property
    def _parquet(self) -> ParquetProfiler | None:
        return self._parquet_factory() if self._parquet_factory else None

    @cached_property
    def _bigquery(self) -> BigQueryProfiler | None:
        return self._bigquery_factory() if self._bigquery_factory else None

    def _engine_for(self, location: DataLocation):
        engine = self._bigquery if location.table else self._parquet
        if engine is None:
            kind = "BigQuery tables" if location.table else "Parquet in a bucket"
            raise ConfigError(f"this profile cannot read {kind} ({location.uri})")
        return engine

    def _table(self, location: DataLocation, window: tuple[datetime | None, datetime | None]):
        from shared.drift.engines.bigquery_json_features import CAPTURED_FEATURES
        from shared.drift.engines.bigquery_sql import TableSource

        # Captured predictions keep the input features in one JSON column: read from there.
        json_features = CAPTURED_FEATURES if location.captured else None
        return TableSource(
            location.table or "",
            location.timestamp_column,
            *window,
            model=location.model_filter,
            json_features=json_features,
        )

    def reference(
        self, location: DataLocation, features: Sequence[str] = (), cache: ReferenceCache | None = None
    ) -> ReferenceProfile:
        engine = self._engine_for(location)
        if location.table:
            # Not cached: BigQuery computes it where the data is, and a table has no cheap identity.
            return engine.reference(self._table(location, (location.start, location.end)), features or None)
        return engine.reference(location, features, cache)

    def profile(
        self,
        reference: DataLocation,
        current: DataLocation,
        *,
        current_window: tuple[datetime | None, datetime | None],
        features: Sequence[str] = (),
        reference_cache: ReferenceCache | None = None,
    ) -> Profile:
        with location_of("reference"):
            ref = self.reference(reference, features, reference_cache)
        with location_of("current"):
            engine = self._engine_for(current)
            if current.table:
                profile = engine.compare(ref, self._table(current, current_window))
            else:
                profile = engine.compare(ref, current, current_window)
        if profile.reference_values is None and ref.source is not None:
            # The reference lives with the other engine: it re-reads its own side for a second pass.
            other = self._bigquery if getattr(ref.source, "table", None) else self._parquet
            if other is not None:
                profile = replace(profile, reference_values=partial(other.value_counts, ref.source))
        return profile
