"""Parquet in fake-gcs-server read by DuckDB through GcsParquetFiles: the same histograms as local
files, only the columns asked for travel, and an object overwritten mid-run is retried, not misread."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.adapters.gcs_parquet_files import GcsParquetFiles
from shared.adapters.local_parquet_files import LocalParquetFiles
from shared.drift.engines.parquet_files import ParquetProfiler
from shared.drift.reference_cache import ObjectStoreReferenceCache
from shared.errors import PermanentError, TransientError
from shared.payloads.drift import DataLocation
from tests.integration.conftest import gcs_store

pytestmark = pytest.mark.integration


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=5_000)
    return buffer.getvalue()


def sample_table(seed: int, rows: int = 20_000, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns = {f"wide_{i}": rng.normal(0, 1, rows) for i in range(8)}  # what a run not asking for them skips
    columns["amount"] = rng.normal(50 + shift, 10, rows)
    columns["country"] = np.array(["FR", "US", "DE"], dtype=object)[rng.integers(0, 3, rows)]
    return pa.table(columns)


class CountingFiles(GcsParquetFiles):
    """The real adapter, counting the bytes its ranged reads bring."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.bytes_read = 0

    def _read_range(self, pinned, start, end):
        data = super()._read_range(pinned, start, end)
        self.bytes_read += len(data)
        return data


@pytest.fixture
def data(storage_client: Any, bucket: str, tmp_path) -> dict[str, Any]:
    """The same files in the bucket and in a local folder, to compare both readers."""
    objects = {
        "fraud/reference/part-0.parquet": parquet_bytes(sample_table(1)),
        "fraud/reference/part-1.parquet": parquet_bytes(sample_table(2)),
        "fraud/reference/nested/part-2.parquet": parquet_bytes(sample_table(3)),
        "fraud/reference/": b"",  # a console-made folder placeholder
        "fraud/current/part-0.parquet": parquet_bytes(sample_table(4, shift=5.0)),
    }
    for name, payload in objects.items():
        storage_client.bucket(bucket).blob(name).upload_from_string(payload)
        if payload:
            path = tmp_path / bucket / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
    return {"bucket": bucket, "local": tmp_path, "objects": objects}


def test_globs_match_like_a_shell_and_skip_placeholders(storage_client, data):
    files = GcsParquetFiles(storage_client)
    bucket = data["bucket"]

    flat = files.resolve(DataLocation(bucket, "fraud/reference/*.parquet"))
    deep = files.resolve(DataLocation(bucket, "fraud/reference/**.parquet"))

    assert [path for path, _ in flat] == [f"gs://{bucket}/fraud/reference/part-{i}.parquet" for i in (0, 1)]
    assert len(deep) == 3 and deep[0][0].endswith("nested/part-2.parquet")
    path, (uri, generation, size) = flat[0]
    assert uri == path and generation > 0 and size == len(data["objects"]["fraud/reference/part-0.parquet"])
    with pytest.raises(PermanentError, match="no Parquet object matches"):
        files.resolve(DataLocation(bucket, "fraud/elsewhere/*.parquet"))
    with pytest.raises(PermanentError, match="does not exist"):
        files.resolve(DataLocation("no-such-bucket-anywhere", "x/*.parquet"))


def test_gcs_and_local_files_give_the_same_profile_reading_only_the_wanted_columns(storage_client, data):
    bucket, features = data["bucket"], ("amount", "country")
    reference, current = DataLocation(bucket, "fraud/reference/*.parquet"), DataLocation(bucket, "fraud/current/*")
    files = CountingFiles(storage_client)

    remote = ParquetProfiler(files).profile(reference, current, current_window=(None, None), features=features)
    local = ParquetProfiler(LocalParquetFiles(data["local"])).profile(
        reference, current, current_window=(None, None), features=features
    )

    assert (
        (remote.reference_rows, remote.current_rows) == (local.reference_rows, local.current_rows) == (40_000, 20_000)
    )
    for got, expected in zip(remote.histograms, local.histograms, strict=True):
        assert got.feature == expected.feature
        assert getattr(got, "cuts", None) == getattr(expected, "cuts", None), got.feature
        assert (got.reference_counts, got.current_counts) == (expected.reference_counts, expected.current_counts)
        # Means and stds are sums over two threads: equal to the last few bits only.
        if expected.reference.mean is not None:
            assert got.reference.mean == pytest.approx(expected.reference.mean, rel=1e-12)
    # Two passes over the reference and one over the current, yet less than the files hold: the
    # eight other columns never travel.
    total = sum(len(v) for k, v in data["objects"].items() if "nested" not in k)
    assert 0 < files.bytes_read < 0.6 * total


def test_an_object_overwritten_during_the_run_is_a_transient_error(storage_client, data):
    bucket = data["bucket"]

    class OverwrittenAfterListing(GcsParquetFiles):
        def resolve(self, location):
            listed = super().resolve(location)
            storage_client.bucket(bucket).blob(location.path).upload_from_string(parquet_bytes(sample_table(9)))
            return listed

    # WHEN the object gets a new generation between the listing and the reads
    profiler = ParquetProfiler(OverwrittenAfterListing(storage_client))

    # THEN the run fails as transient (a redelivery lists again), rather than reading the new bytes
    # under the old listing, or being rejected as bad input
    with pytest.raises(TransientError, match="changed during the run"):
        profiler.reference(DataLocation(bucket, "fraud/current/part-0.parquet"))


def test_the_reference_cache_lives_in_the_drift_logs_bucket(storage_client, data, bucket):
    cache = ObjectStoreReferenceCache(gcs_store(), bucket)
    profiler = ParquetProfiler(GcsParquetFiles(storage_client))
    reference = DataLocation(bucket, "fraud/reference/*.parquet")

    first = profiler.reference(reference, ("amount",), cache)
    second = profiler.reference(reference, ("amount",), cache)

    assert first == second and cache.hits == 1
    assert [b.name for b in storage_client.list_blobs(bucket, prefix="drift-cache/")] != []
