"""ParquetProfiler: files resolved from a bucket URI, the reference profile kept between runs."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.adapters.local_object_store import LocalObjectStore
from shared.adapters.local_parquet_files import LocalParquetFiles
from shared.drift.engines.parquet_files import ParquetProfiler
from shared.drift.reference_cache import PREFIX, ObjectStoreReferenceCache
from shared.errors import PermanentError, TransientError
from shared.payloads.drift import DataLocation

REFERENCE, CURRENT = DataLocation("b", "ref/*.parquet"), DataLocation("b", "cur/*.parquet")


def write(path, values) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"x": values}), path)


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(2)
    write(tmp_path / "data" / "b" / "ref" / "0.parquet", rng.normal(0, 1, 1_000))
    write(tmp_path / "data" / "b" / "cur" / "0.parquet", rng.normal(0, 1, 1_000))
    return tmp_path / "data"


def test_the_reference_is_reused_until_its_files_change(tmp_path, data):
    # GIVEN a cache in a (local) drift-logs bucket
    cache = ObjectStoreReferenceCache(LocalObjectStore(tmp_path / "logs"), "ml-drift-logs-dev")
    profiler = ParquetProfiler(LocalParquetFiles(data))

    # WHEN the same run happens twice THEN the second reads the cached reference and agrees
    first = profiler.profile(REFERENCE, CURRENT, current_window=(None, None), reference_cache=cache)
    second = profiler.profile(REFERENCE, CURRENT, current_window=(None, None), reference_cache=cache)
    assert (cache.hits, first) == (1, second)
    assert len(list((tmp_path / "logs" / "ml-drift-logs-dev" / PREFIX).glob("*.json"))) == 1

    # WHEN the reference grows THEN it is profiled again
    write(data / "b" / "ref" / "1.parquet", np.random.default_rng(3).normal(5, 1, 1_000))
    third = profiler.profile(REFERENCE, CURRENT, current_window=(None, None), reference_cache=cache)
    assert cache.hits == 1 and third.reference_rows == 2_000


def test_a_corrupt_or_foreign_cache_entry_is_profiled_again_and_overwritten(tmp_path, data):
    store = LocalObjectStore(tmp_path / "logs")
    cache = ObjectStoreReferenceCache(store, "logs")
    profiler = ParquetProfiler(LocalParquetFiles(data))
    expected = profiler.profile(REFERENCE, CURRENT, current_window=(None, None))
    profiler.profile(REFERENCE, CURRENT, current_window=(None, None), reference_cache=cache)
    [entry] = list((tmp_path / "logs" / "logs" / PREFIX).glob("*.json"))
    for damage in (b"{not json", json.dumps({"rows": 1}).encode()):
        entry.write_bytes(damage)
        again = profiler.profile(REFERENCE, CURRENT, current_window=(None, None), reference_cache=cache)
        assert again == expected
    assert json.loads(entry.read_bytes())["rows"] == 1_000  # rewritten whole


class UnreachableStore:
    def read(self, bucket, name):
        raise TransientError("GCS 503")

    def put(self, bucket, name, data, **kwargs):
        raise TransientError("GCS 503")


def test_an_unreachable_cache_costs_time_not_the_run(data, caplog):
    cache = ObjectStoreReferenceCache(UnreachableStore(), "logs")
    profile = ParquetProfiler(LocalParquetFiles(data)).profile(
        REFERENCE, CURRENT, current_window=(None, None), reference_cache=cache
    )
    assert profile.reference_rows == 1_000 and cache.hits == 0
    assert "unreadable" in caplog.text and "not written" in caplog.text


def test_nothing_matching_is_a_bad_request(data):
    with pytest.raises(PermanentError, match="no Parquet file matches gs://b/nope"):
        ParquetProfiler(LocalParquetFiles(data)).profile(
            DataLocation("b", "nope/*.parquet"), CURRENT, current_window=(None, None)
        )
