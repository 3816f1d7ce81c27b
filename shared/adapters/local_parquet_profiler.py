"""FeatureProfiler over Parquet files in the embedded profile's local buckets (`gs://b/p` -> `<root>/b/p`).

The reference side is profiled once and kept as JSON under `cache_dir`, keyed on the files it read
(name, size, modification time) and the profiling settings: a scheduled run against an unchanged
reference only reads its current window.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from shared.drift.duckdb_profiler import DuckDbProfiler, ParquetSource, Profile, ReferenceProfile
from shared.errors import PermanentError
from shared.events.drift import DataLocation

CACHE_VERSION = 1  # bump when ReferenceProfile's meaning changes


class LocalParquetProfiler:
    def __init__(self, buckets_dir: Path, *, cache_dir: Path | None = None, profiler: DuckDbProfiler | None = None):
        self._root = Path(buckets_dir)
        self._cache_dir = cache_dir
        self._profiler = profiler
        self.cache_hits = 0

    def _files(self, location: DataLocation) -> list[str]:
        pattern = self._root / location.bucket / location.path
        files = sorted(glob.glob(str(pattern)))
        if not files:
            raise PermanentError(f"no Parquet file matches {location.uri} (looked in {pattern})")
        return files

    @property
    def _engine(self) -> DuckDbProfiler:
        if self._profiler is None:
            self._profiler = DuckDbProfiler()
        return self._profiler

    def reference(self, location: DataLocation, features: Sequence[str] = ()) -> ReferenceProfile:
        """The reference side, from the cache when its files and the settings are unchanged."""
        profiler = self._engine
        files = self._files(location)
        source = ParquetSource(tuple(files), location.timestamp_column, location.start, location.end)
        if self._cache_dir is None:
            return profiler.reference(source, features or None)
        identity = {
            "version": CACHE_VERSION,
            "files": [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files],
            "window": [location.timestamp_column, str(location.start), str(location.end)],
            "features": list(features),
            "settings": profiler.settings,
        }
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        cached = self._cache_dir / f"{key}.json"
        if cached.is_file():
            self.cache_hits += 1
            return ReferenceProfile.from_json(json.loads(cached.read_text()))
        reference = profiler.reference(source, features or None)
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".tmp")
        partial.write_text(json.dumps(reference.to_json()))
        partial.replace(cached)  # atomic: a concurrent run reads a whole profile or none
        return reference

    def compare(
        self, reference: ReferenceProfile, current: DataLocation, window: tuple[datetime | None, datetime | None]
    ) -> Profile:
        return self._engine.compare(
            reference, ParquetSource(tuple(self._files(current)), current.timestamp_column, *window)
        )

    def profile(
        self,
        reference: DataLocation,
        current: DataLocation,
        *,
        current_window: tuple[datetime | None, datetime | None],
        features: Sequence[str] = (),
    ) -> Profile:
        return self.compare(self.reference(reference, features), current, current_window)
