"""ParquetFiles on the embedded profile: `gs://bucket/path` is `<buckets_dir>/bucket/path` on disk."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.errors import EventParseError, TransientError

if TYPE_CHECKING:
    import duckdb

    from shared.payloads.drift import DataLocation


class LocalParquetFiles:
    def __init__(self, buckets_dir: Path) -> None:
        self._root = Path(buckets_dir)

    def resolve(self, location: DataLocation) -> list[tuple[str, tuple[Any, ...]]]:
        pattern = self._root / location.bucket / location.path
        files = sorted(glob.glob(str(pattern), recursive=True))
        if not files:
            raise EventParseError(f"no Parquet file matches {location.uri} (looked in {pattern})", field="uri")
        resolved = []
        for path in files:
            stat = os.stat(path)
            name = Path(path).relative_to(self._root).as_posix()
            resolved.append((path, (f"gs://{name}", stat.st_size, stat.st_mtime_ns)))
        return resolved

    def attach(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Local paths need nothing."""

    def take_failure(self) -> TransientError | None:
        return None
