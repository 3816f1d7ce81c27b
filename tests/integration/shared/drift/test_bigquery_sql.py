"""BigQueryProfiler against bqemulator: the same profile as DuckDB over the same data, computed in SQL.

Every table is loaded from the very Parquet file DuckDB reads. Counts are checked exactly, against
numpy counting the raw values on the profile's cuts and across engines (each engine counting on the
other's cuts); summaries to 1e-9.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.drift.detect import detect_drift
from shared.drift.engines.bigquery_sql import BigQueryProfiler, TableSource
from shared.drift.engines.duckdb_parquet import DuckDbProfiler, ParquetSource, ReferenceProfile
from shared.drift.histograms import CategoricalHistogram, NumericHistogram, SideSummary
from shared.errors import PermanentError, TransientError
from tests.integration.conftest import PROJECT

pytestmark = pytest.mark.integration

_BIGQUERY_TYPES = {
    pa.float64(): "FLOAT64",
    pa.int64(): "INT64",
    pa.string(): "STRING",
    pa.bool_(): "BOOL",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP",
    pa.timestamp("us"): "DATETIME",
}


@pytest.fixture
def dataset(bigquery_client: Any) -> str:
    """A new dataset for each test."""
    name = f"{PROJECT}.drift_{uuid.uuid4().hex[:12]}"
    bigquery_client.create_dataset(name, timeout=10)
    return name


def load_table(client: Any, dataset: str, name: str, table: pa.Table, folder: Path) -> tuple[str, str]:
    """Write a pyarrow table to Parquet and load that file into a BigQuery table: (table id, Parquet path)."""
    from google.cloud import bigquery

    path = folder / f"{name}.parquet"
    pq.write_table(table, path)
    table_id = f"{dataset}.{name}"
    schema = [bigquery.SchemaField(f.name, _BIGQUERY_TYPES[f.type]) for f in table.schema]
    # bqemulator loads into an existing table only.
    client.create_table(bigquery.Table(table_id, schema=schema), timeout=10)
    job = client.load_table_from_file(
        io.BytesIO(path.read_bytes()),
        table_id,
        job_config=bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET),
        timeout=10,
    )
    job.result(timeout=30, retry=bigquery.DEFAULT_RETRY.with_deadline(30))
    return table_id, str(path)


@pytest.fixture
def load(bigquery_client: Any, dataset: str, tmp_path: Path):
    """`load_table` into this test's dataset and folder."""

    def load(name: str, table: pa.Table) -> tuple[str, str]:
        return load_table(bigquery_client, dataset, name, table, tmp_path)

    return load


@pytest.fixture
def profiler(bigquery_client: Any) -> BigQueryProfiler:
    return BigQueryProfiler(bigquery_client, fine_bins=100, timeout_s=30)


def numpy_counts(values: np.ndarray, cuts: tuple[float, ...]) -> list[int]:
    """The (c_i, c_{i+1}] convention: a value equal to a cut falls in the bin that ends there."""
    present = values[~np.isnan(values)]
    return np.bincount(np.searchsorted(np.asarray(cuts), present, side="left"), minlength=len(cuts) + 1).tolist()


def assert_summary(summary: SideSummary, values: np.ndarray) -> None:
    """rows, missing (NULL and NaN), min, max, mean, population std of the raw values."""
    present = values[~np.isnan(values)]
    assert (summary.rows, summary.missing) == (len(values), len(values) - len(present))
    assert (summary.minimum, summary.maximum) == (present.min(), present.max())
    assert summary.mean == pytest.approx(present.mean(), rel=1e-9)
    assert summary.std == pytest.approx(present.std(), rel=1e-9)


def assert_same_summary(one: SideSummary, other: SideSummary) -> None:
    """Counts, minimum and maximum exactly; mean and std to 1e-9 (engines sum in different orders)."""
    exact = [(s.rows, s.missing, s.minimum, s.maximum) for s in (one, other)]
    assert exact[0] == exact[1]
    for a, b in ((one.mean, other.mean), (one.std, other.std)):
        assert (a is None and b is None) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


def numeric_table(rows: int, seed: int) -> tuple[pa.Table, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 3.0, rows)
    x_nulls = np.zeros(rows, dtype=bool)
    x[:40] = np.nan  # NaN is a missing value too
    x_nulls[40:80] = True
    k = rng.integers(0, 30, rows).astype(float)
    k[::50] = np.nan
    rating = rng.choice([0.5, 1.5, 2.25, 7.0], rows)
    table = pa.table(
        {
            "x": pa.array(x, mask=x_nulls),
            "k": pa.array([None if np.isnan(v) else int(v) for v in k], pa.int64()),
            "rating": pa.array(rating),
            "empty": pa.array([None] * rows, pa.float64()),
        }
    )
    x_raw = x.copy()
    x_raw[x_nulls] = np.nan
    return table, {"x": x_raw, "k": k, "rating": rating}


def test_reference_profile_matches_numpy_and_duckdb(load, profiler: BigQueryProfiler) -> None:
    # GIVEN the same data in a BigQuery table and in a Parquet file
    table, raw = numeric_table(3_000, seed=7)
    table_id, path = load("reference", table)

    # WHEN BigQuery profiles the table
    reference = profiler.reference(TableSource(table_id))

    # THEN the counts on its cuts are exact, the summaries right, and every rule on cuts is DuckDB's
    x, k, rating, empty = (reference.numeric[f] for f in ("x", "k", "rating", "empty"))
    assert reference.rows == 3_000 and reference.features == ("x", "k", "rating", "empty")
    assert reference.columns == {"x": "FLOAT64", "k": "INT64", "rating": "FLOAT64", "empty": "FLOAT64"}
    assert 90 <= len(x.cuts) <= 99 and all(b > a for a, b in zip(x.cuts, x.cuts[1:], strict=False))
    assert k.cuts == tuple(float(v) for v in range(29))  # integers over a short range: a cut at each
    assert rating.cuts == (0.5, 1.5, 2.25)  # few distinct floats: a cut after each but the largest
    assert (empty.cuts, empty.counts) == ((), (0,))
    assert empty.summary == SideSummary(3_000, 3_000, None, None, None, None)
    for feature, values in raw.items():
        numeric = reference.numeric[feature]
        assert list(numeric.counts) == numpy_counts(values, numeric.cuts), feature
        assert_summary(numeric.summary, values)
    assert all(isinstance(c, int) for n in reference.numeric.values() for c in n.counts)
    assert all(isinstance(c, float) for n in reference.numeric.values() for c in n.cuts)
    assert x.summary.missing == 80  # 40 NaN + 40 NULL

    # AND DuckDB counting the Parquet file on BigQuery's cuts finds the same counts and summaries
    duck = DuckDbProfiler(fine_bins=100)
    for hist in duck.compare(reference, ParquetSource((path,))).histograms:
        assert isinstance(hist, NumericHistogram)
        assert hist.current_counts == hist.reference_counts, hist.feature
        assert_same_summary(hist.current, hist.reference)

    # AND BigQuery counting the table on DuckDB's cuts finds DuckDB's counts
    duck_reference = duck.reference(ParquetSource((path,)))
    assert duck_reference.rows == reference.rows
    assert duck_reference.numeric["k"].cuts == k.cuts and duck_reference.numeric["rating"].cuts == rating.cuts
    for feature, numeric in reference.numeric.items():
        assert_same_summary(duck_reference.numeric[feature].summary, numeric.summary)
    for hist in profiler.compare(duck_reference, TableSource(table_id)).histograms:
        assert isinstance(hist, NumericHistogram)
        assert hist.current_counts == hist.reference_counts, hist.feature


def test_categorical_counts_and_unseen_categories_match_duckdb(load, bigquery_client: Any) -> None:
    # GIVEN a STRING column with NULLs and a BOOL column, and a current table with a category the reference lacks
    reference = pa.table(
        {
            "city": ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5 + [None] * 10,
            "member": [True, False, None, True, True] * 22,
        }
    )
    current = pa.table(
        {
            "city": ["a"] * 20 + ["b"] * 20 + ["d"] * 5 + ["new-1"] * 7 + ["new-2"] * 3 + [None] * 2,
            "member": [False, None, True, True] * 14 + [False],
        }
    )
    ref_id, ref_path = load("reference", reference)
    cur_id, cur_path = load("current", current)

    # WHEN both engines profile the same data
    bigquery = BigQueryProfiler(bigquery_client, category_cap=2, timeout_s=30)
    bq = bigquery.profile(TableSource(ref_id), TableSource(cur_id))
    duck = DuckDbProfiler(category_cap=2).profile(ParquetSource((ref_path,)), ParquetSource((cur_path,)))

    # THEN they are equal, histogram for histogram
    assert bq == duck
    city, member = bq.histograms
    assert isinstance(city, CategoricalHistogram) and isinstance(member, CategoricalHistogram)
    assert city.categories == ("a", "b", "__other__") and city.reference_counts == (50, 30, 20)
    assert city.current_counts == (20, 20, 5) and (city.reference.missing, city.current.missing) == (10, 2)
    assert city.unseen == {"new-1": 7, "new-2": 3} and city.unseen_total == 10
    assert set(member.categories) == {"true", "false"}  # BOOL reads as DuckDB's VARCHAR cast


def test_time_window_on_timestamp_and_datetime_columns(load, profiler: BigQueryProfiler) -> None:
    # GIVEN ten days of data, stamped both as TIMESTAMP and as DATETIME (UTC civil time)
    rng = np.random.default_rng(3)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    hours = rng.integers(0, 240, 2_000)
    ts = [t0 + timedelta(hours=int(h)) for h in hours]
    x = rng.normal(0.0, 1.0, 2_000) + (hours >= 120) * 0.5
    table = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "local": pa.array([t.replace(tzinfo=None) for t in ts], pa.timestamp("us")),
            "x": x,
            "k": rng.integers(0, 5, 2_000),
            "channel": rng.choice(["web", "app"], 2_000).tolist(),
        }
    )
    table_id, path = load("events", table)
    start, end = t0 + timedelta(days=3), t0 + timedelta(days=6)
    reference = profiler.reference(TableSource(table_id, "ts"), ["x", "k", "channel"])

    # WHEN the whole table is the reference and three days of it the current side
    profile = profiler.compare(reference, TableSource(table_id, "ts", start, end))

    # THEN only the window's rows are counted (start inclusive, end exclusive), on every feature
    inside = (hours >= 72) & (hours < 144)
    x_hist, k_hist, channel = profile.histograms
    assert profile.current_rows == int(inside.sum()) and profile.reference_rows == 2_000
    assert list(x_hist.current_counts) == numpy_counts(x[inside], x_hist.cuts)
    assert list(k_hist.current_counts) == numpy_counts(table["k"].to_numpy()[inside].astype(float), k_hist.cuts)
    assert sum(channel.current_counts) == int(inside.sum())
    assert_summary(x_hist.current, x[inside])
    # AND DuckDB counts the same window of the same file alike
    duck = DuckDbProfiler(fine_bins=100).compare(reference, ParquetSource((path,), "ts", start, end))
    assert [h.current_counts for h in duck.histograms] == [h.current_counts for h in profile.histograms]
    # AND a window on the DATETIME column, given as UTC instants, selects the same rows
    civil = profiler.compare(reference, TableSource(table_id, "local", start, end))
    assert [h.current_counts for h in civil.histograms] == [h.current_counts for h in profile.histograms]

    # AND the window's column is no feature by default (another time column is reported, not counted)
    default = profiler.profile(TableSource(table_id, "ts"), TableSource(table_id, "ts"))
    assert [h.feature for h in default.histograms] == ["x", "k", "channel"]
    assert default.unsupported == {"local": "DATETIME"}
    # AND an empty window is zero rows, not an error
    empty = profiler.profile(TableSource(table_id, "ts"), TableSource(table_id, "ts", end=t0), ["x"])
    assert empty.current_rows == 0 and sum(empty.histograms[0].current_counts) == 0
    assert empty.histograms[0].current == SideSummary(0, 0)


def test_missing_columns_type_changes_and_missing_tables(load, profiler: BigQueryProfiler, dataset: str) -> None:
    # GIVEN a column only in the reference, one only in the current table, and one that changed type
    ref_id, _ = load("reference", pa.table({"x": [1.0, 2.0, 3.0], "only_ref": [1, 1, 1], "zip": [75001, 69002, 13003]}))
    cur_id, _ = load("current", pa.table({"x": [1.0, 2.5, 3.0], "only_cur": ["a"] * 3, "zip": ["75001", "2A004", "1"]}))

    # WHEN profiled with every reference column, then with a feature neither side has
    profile = profiler.profile(TableSource(ref_id), TableSource(cur_id))
    asked = profiler.profile(TableSource(ref_id), TableSource(cur_id), features=["x", "ghost"])

    # THEN the missing sides and the type change are reported, the rest is counted
    assert profile.missing_columns == {"only_ref": "current"}
    assert profile.unsupported == {"zip": "INT64 -> STRING"}
    assert [h.feature for h in profile.histograms] == ["x"]
    assert asked.missing_columns == {"ghost": "reference"} and [h.feature for h in asked.histograms] == ["x"]

    # AND a missing table, a malformed table id, a window on a missing column are permanent errors naming them
    with pytest.raises(PermanentError, match=f"no BigQuery table {dataset}.nope"):
        profiler.reference(TableSource(f"{dataset}.nope"))
    with pytest.raises(PermanentError, match="not a BigQuery table id"):
        TableSource(f"{dataset}.t`; DROP TABLE x; --")
    with pytest.raises(PermanentError, match="has no column 'when'"):
        profiler.reference(TableSource(ref_id, "when", start=datetime(2026, 1, 1, tzinfo=UTC)))


def test_an_unreachable_bigquery_is_a_transient_error() -> None:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from tooling.local_server import free_port

    # GIVEN a client whose endpoint nobody listens on
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{free_port()}"),
    )
    # WHEN profiling THEN the platform is told to retry later, within the profiler's timeout
    with pytest.raises(TransientError):
        BigQueryProfiler(client, timeout_s=2).reference(TableSource(f"{PROJECT}.d.t"))


def drift_frame(rng: np.random.Generator, rows: int, *, shifted: bool) -> pa.Table:
    cities = np.array(["paris", "lyon", "nice", "lille"], dtype=object)
    weights = [0.1, 0.2, 0.3, 0.4] if shifted else [0.4, 0.3, 0.2, 0.1]
    return pa.table(
        {
            "amount": rng.lognormal(3.0 + (0.4 if shifted else 0.0), 0.5, rows),
            "age": rng.integers(18, 80, rows),
            "score": rng.normal(0.0, 1.0, rows),
            "city": cities[rng.choice(4, rows, p=weights)].tolist(),
            "channel": np.array(["web", "app"], dtype=object)[rng.integers(0, 2, rows)].tolist(),
        }
    )


def test_detect_drift_on_the_bigquery_profile_finds_the_known_shift(load, bigquery_client: Any) -> None:
    # GIVEN a reference and a current table where amount and city shifted
    rng = np.random.default_rng(11)
    ref_id, ref_path = load("reference", drift_frame(rng, 10_000, shifted=False))
    cur_id, cur_path = load("current", drift_frame(rng, 8_000, shifted=True))

    # WHEN drift is detected on BigQuery's profile (with the default fine bins)
    bigquery = BigQueryProfiler(bigquery_client, timeout_s=30)
    reference = bigquery.reference(TableSource(ref_id))
    result = detect_drift(bigquery.compare(reference, TableSource(cur_id)))

    # THEN exactly the shifted features drift, as on DuckDB's profile of the same files
    assert {f.feature for f in result.features if f.drifted} == {"amount", "city"}
    assert result.dataset_drifted and (result.reference_rows, result.current_rows) == (10_000, 8_000)
    duck = detect_drift(DuckDbProfiler().profile(ParquetSource((ref_path,)), ParquetSource((cur_path,))))
    assert {f.feature for f in duck.features if f.drifted} == {"amount", "city"}
    # AND the reference profile survives its JSON cache form
    assert ReferenceProfile.from_json(reference.to_json()) == reference
