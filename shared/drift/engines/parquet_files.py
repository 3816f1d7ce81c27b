"""FeatureProfiler over Parquet files in a bucket: DuckDB streams them, wherever they are.

Where the files are is a `ParquetFiles`: `LocalParquetFiles` (embedded profile: `gs://b/p` ->
`<root>/b/p`) or `GcsParquetFiles` (GCS or fake-gcs-server, read in ranges). The reference side is
profiled once and kept in a `ReferenceCache`, keyed on the files it read and the profiling settings:
a scheduled run against an unchanged reference only reads its current window.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from shared.drift.engines.duckdb_parquet import DuckDbProfiler, ParquetSource
from shared.drift.profiles import Profile, ReferenceProfile
from shared.payloads.drift import location_of

if TYPE_CHECKING:
    from shared.drift.histograms import BinValues
    from shared.drift.refine import Ranges, ValueReader
    from shared.payloads.drift import DataLocation
    from shared.ports import ParquetFiles, ReferenceCache


class ParquetProfiler:
    def __init__(self, files: ParquetFiles, *, profiler: DuckDbProfiler | None = None) -> None:
        self._files = files
        self._profiler = profiler

    @property
    def _engine(self) -> DuckDbProfiler:
        if self._profiler is None:
            self._profiler = DuckDbProfiler()
        self._files.attach(self._profiler.connection)
        return self._profiler

    def _source(self, location: DataLocation, window: tuple[datetime | None, datetime | None]):
        resolved = self._files.resolve(location)
        return ParquetSource(tuple(path for path, _ in resolved), location.timestamp_column, *window), resolved

    def reference(
        self, location: DataLocation, features: Sequence[str] = (), cache: ReferenceCache | None = None
    ) -> ReferenceProfile:
        """The reference side, from the cache when its files and the settings are unchanged."""
        profiler = self._engine
        source, resolved = self._source(location, (location.start, location.end))
        identity = {
            "files": [list(found) for _, found in resolved],
            "window": [location.timestamp_column, str(location.start), str(location.end)],
            "features": list(features),
            "settings": profiler.settings,
        }
        cached = cache.get(identity) if cache else None
        if cached is not None:
            try:
                return ReferenceProfile.from_json(cached)
            except (KeyError, TypeError, ValueError):
                pass  # written by another version: profile again, and overwrite it below
        with self._reads():
            reference = profiler.reference(source, features or None)
        if cache:
            cache.put(identity, reference.to_json())
        return reference

    def compare(
        self, reference: ReferenceProfile, current: DataLocation, window: tuple[datetime | None, datetime | None]
    ) -> Profile:
        engine = self._engine
        source, _ = self._source(current, window)
        with self._reads():
            profile = engine.compare(reference, source)
        # The second passes (`shared.drift.refine`) read later, from detect_drift: a storage failure
        # there must come out as the TransientError it was too.
        return replace(
            profile,
            reference_values=self._guarded(profile.reference_values),
            current_values=self._guarded(profile.current_values),
        )

    def value_counts(self, source: ParquetSource, requests: Mapping[str, Ranges]) -> dict[str, BinValues]:
        """A second pass over Parquet (see `DuckDbProfiler.value_counts`), for a side another engine compared."""
        with self._reads():
            return self._engine.value_counts(source, requests)

    def _guarded(self, reader: ValueReader | None) -> ValueReader | None:
        if reader is None:
            return None

        def read(requests: Mapping[str, Ranges]) -> Mapping[str, BinValues]:
            with self._reads():
                return reader(requests)

        return read

    @contextmanager
    def _reads(self) -> Iterator[None]:
        """A storage failure inside DuckDB is raised as the TransientError it was, not as bad input."""
        try:
            yield
        except Exception:
            failure = self._files.take_failure()
            if failure is not None:
                raise failure from None
            raise

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
            profiled = self.reference(reference, features, reference_cache)
        with location_of("current"):
            return self.compare(profiled, current, current_window)
