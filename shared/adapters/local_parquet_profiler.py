"""FeatureProfiler over Parquet files in the embedded profile's local buckets (`gs://b/p` -> `<root>/b/p`)."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from shared.drift.duckdb_profiler import DuckDbProfiler, ParquetSource, Profile
from shared.errors import PermanentError
from shared.events.drift import DataLocation


class LocalParquetProfiler:
    def __init__(self, buckets_dir: Path, profiler: DuckDbProfiler | None = None) -> None:
        self._root = Path(buckets_dir)
        self._profiler = profiler

    def _source(self, location: DataLocation, window: tuple[datetime | None, datetime | None]) -> ParquetSource:
        pattern = self._root / location.bucket / location.path
        if not glob.glob(str(pattern)):
            raise PermanentError(f"no Parquet file matches {location.uri} (looked in {pattern})")
        return ParquetSource((str(pattern),), location.timestamp_column, *window)

    def profile(
        self,
        reference: DataLocation,
        current: DataLocation,
        *,
        current_window: tuple[datetime | None, datetime | None],
        features: Sequence[str] = (),
    ) -> Profile:
        profiler = self._profiler or DuckDbProfiler()
        return profiler.profile(
            self._source(reference, (reference.start, reference.end)),
            self._source(current, current_window),
            features or None,
        )
