"""DuckDB profiles Parquet into histograms that match counting the raw values with numpy."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.drift.engines.duckdb_parquet import DuckDbProfiler, ParquetSource
from shared.drift.histograms import OTHER, CategoricalHistogram, NumericHistogram
from shared.errors import PermanentError


def write_parquet(path, columns: dict[str, list]) -> str:
    pq.write_table(pa.table({name: list(values) for name, values in columns.items()}), path)
    return str(path)


@pytest.fixture
def profiler() -> DuckDbProfiler:
    return DuckDbProfiler(fine_bins=100)


def numpy_counts(values: np.ndarray, cuts: tuple[float, ...]) -> list[int]:
    """The (c_i, c_{i+1}] convention: a value equal to a cut falls in the bin that ends there."""
    present = values[~np.isnan(values)]
    return np.bincount(np.searchsorted(np.asarray(cuts), present, side="left"), minlength=len(cuts) + 1).tolist()


def test_numeric_histograms_match_numpy_counting(tmp_path, profiler):
    rng = np.random.default_rng(7)
    reference = rng.normal(0, 1, 20_000)
    current = rng.normal(0.3, 1.2, 15_000)
    current[:150] = np.nan  # missing values are counted apart, never binned
    ref = write_parquet(tmp_path / "ref.parquet", {"x": reference})
    cur = write_parquet(tmp_path / "cur.parquet", {"x": current})

    [hist] = profiler.profile(ParquetSource((ref,)), ParquetSource((cur,))).histograms

    assert isinstance(hist, NumericHistogram)
    assert 90 <= len(hist.cuts) <= 99  # ~fine_bins reference quantiles
    assert list(hist.reference_counts) == numpy_counts(reference, hist.cuts)
    assert list(hist.current_counts) == numpy_counts(current, hist.cuts)
    assert (hist.current.rows, hist.current.missing) == (15_000, 150)
    assert hist.reference.mean == pytest.approx(reference.mean())
    assert hist.reference.std == pytest.approx(reference.std())
    assert (hist.reference.minimum, hist.reference.maximum) == (reference.min(), reference.max())


def test_discrete_features_are_cut_at_every_distinct_value(tmp_path, profiler):
    rng = np.random.default_rng(3)
    reference, current = rng.integers(0, 30, 5_000), rng.integers(5, 40, 5_000)
    ref = write_parquet(tmp_path / "ref.parquet", {"k": reference})
    cur = write_parquet(tmp_path / "cur.parquet", {"k": current})

    [hist] = profiler.profile(ParquetSource((ref,)), ParquetSource((cur,))).histograms

    assert hist.cuts == tuple(float(v) for v in range(29))  # 0..29 seen: a cut after each but the largest
    assert list(hist.current_counts) == numpy_counts(current.astype(float), hist.cuts)


def test_categorical_counts_cap_and_unseen_categories(tmp_path):
    reference = ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5 + [None] * 10
    current = ["a"] * 20 + ["b"] * 20 + ["d"] * 5 + ["new-1"] * 7 + ["new-2"] * 3
    ref = write_parquet(tmp_path / "ref.parquet", {"city": reference})
    cur = write_parquet(tmp_path / "cur.parquet", {"city": current})

    [hist] = DuckDbProfiler(category_cap=2).profile(ParquetSource((ref,)), ParquetSource((cur,))).histograms

    assert isinstance(hist, CategoricalHistogram)
    assert hist.categories == ("a", "b", OTHER)  # the rarest reference categories folded together
    assert hist.reference_counts == (50, 30, 20)
    assert hist.current_counts == (20, 20, 5)
    assert (hist.reference.missing, hist.current.missing) == (10, 0)
    assert hist.unseen == {"new-1": 7, "new-2": 3} and hist.unseen_total == 10


def test_time_window_and_columns_missing_on_one_side(tmp_path, profiler):
    days = [datetime(2026, 11, d, tzinfo=UTC) for d in (1, 2, 3, 4)]
    ref = write_parquet(tmp_path / "ref.parquet", {"ts": days, "x": [1.0, 2.0, 3.0, 4.0], "only_ref": [1, 1, 1, 1]})
    cur = write_parquet(tmp_path / "cur.parquet", {"ts": days, "x": [1.0, 2.0, 3.0, 4.0], "only_cur": ["a"] * 4})
    window = ParquetSource((cur,), "ts", datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))

    profile = profiler.profile(ParquetSource((ref,), "ts"), window)

    assert profile.current_rows == 2 and profile.reference_rows == 4
    assert profile.missing_columns == {"only_ref": "current"}
    assert [h.feature for h in profile.histograms] == ["x"]
    assert profile.histograms[0].current.rows == 2


def test_an_empty_window_gives_empty_current_counts_not_a_crash(tmp_path, profiler):
    ref = write_parquet(tmp_path / "ref.parquet", {"ts": [datetime(2026, 11, 1, tzinfo=UTC)] * 3, "x": [1.0, 2.0, 3.0]})
    empty = ParquetSource((ref,), "ts", datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))
    [hist] = profiler.profile(ParquetSource((ref,), "ts"), empty).histograms
    assert hist.current.rows == 0 and sum(hist.current_counts) == 0


def test_unreadable_sources_are_clear_errors(tmp_path, profiler):
    with pytest.raises(PermanentError, match="cannot read"):
        profiler.profile(ParquetSource((str(tmp_path / "nope.parquet"),)), ParquetSource((str(tmp_path / "x"),)))
    with pytest.raises(PermanentError, match="timestamp column"):
        ParquetSource(("a.parquet",), start=datetime(2026, 1, 1, tzinfo=UTC))


def test_floats_with_few_distinct_values_are_cut_at_each_value(tmp_path, profiler):
    rng = np.random.default_rng(5)
    reference = rng.choice([0.5, 1.5, 2.25, 7.0], 4_000)
    current = rng.choice([0.5, 1.5, 2.25, 7.0, 9.5], 4_000)
    ref = write_parquet(tmp_path / "ref.parquet", {"rating": reference})
    cur = write_parquet(tmp_path / "cur.parquet", {"rating": current})

    [hist] = profiler.profile(ParquetSource((ref,)), ParquetSource((cur,))).histograms

    assert hist.cuts == (0.5, 1.5, 2.25)
    assert list(hist.current_counts) == numpy_counts(current, hist.cuts)


def test_a_reference_profile_survives_json_and_gives_the_same_comparison(tmp_path, profiler):
    import json

    from shared.drift.engines.duckdb_parquet import ReferenceProfile

    rng = np.random.default_rng(9)
    ref = write_parquet(tmp_path / "ref.parquet", {"x": rng.normal(0, 1, 3_000), "c": ["a", "b", "c"] * 1_000})
    cur = write_parquet(tmp_path / "cur.parquet", {"x": rng.normal(0.2, 1, 2_000), "c": ["a", "d"] * 1_000})
    reference = profiler.reference(ParquetSource((ref,)))

    revived = ReferenceProfile.from_json(json.loads(json.dumps(reference.to_json())))

    assert profiler.compare(revived, ParquetSource((cur,))) == profiler.compare(reference, ParquetSource((cur,)))


def test_a_column_whose_type_changed_is_reported_not_counted(tmp_path, profiler):
    ref = write_parquet(tmp_path / "ref.parquet", {"zip": [75001, 69002, 13003]})
    cur = write_parquet(tmp_path / "cur.parquet", {"zip": ["75001", "2A004", "13003"]})
    profile = profiler.profile(ParquetSource((ref,)), ParquetSource((cur,)))
    assert profile.histograms == [] and profile.unsupported == {"zip": "BIGINT -> VARCHAR"}


def test_columns_fetched_in_groups_give_exact_quantile_cuts_and_per_bin_statistics(tmp_path, monkeypatch):
    # GIVEN a reference with more values than one query may fetch (one column per query then)
    from shared.drift.engines import duckdb_parquet as duckdb_profiler

    monkeypatch.setattr(duckdb_profiler, "COLUMN_BUDGET", 50_000)
    rng = np.random.default_rng(11)
    reference = {"x": rng.lognormal(0, 1, 60_000), "y": rng.normal(5, 2, 60_000)}
    current = {"x": rng.lognormal(0.2, 1, 30_000), "y": rng.normal(5, 2, 30_000)}
    ref = write_parquet(tmp_path / "ref.parquet", reference)
    cur = write_parquet(tmp_path / "cur.parquet", current)

    # WHEN two profilers (two runs) profile it
    first, second = (
        DuckDbProfiler(fine_bins=100).profile(ParquetSource((ref,)), ParquetSource((cur,))) for _ in range(2)
    )

    # THEN the cuts are the reference's exact quantiles, and repeat; counts, sums and extremes per bin are
    # numpy's on the raw values
    for hist in first.histograms:
        values = {"reference": reference[hist.feature], "current": current[hist.feature]}
        ordered = np.sort(values["reference"])
        assert hist.cuts == tuple(np.unique(ordered[(np.arange(1, 100) * 60_000) // 100]))
        for side, counts, stats in (
            ("reference", hist.reference_counts, hist.reference_bins),
            ("current", hist.current_counts, hist.current_bins),
        ):
            raw = values[side]
            assert list(counts) == numpy_counts(raw, hist.cuts)
            index = np.searchsorted(np.asarray(hist.cuts), raw, side="left")
            sums = np.bincount(index, raw - stats.origin, len(hist.cuts) + 1)
            np.testing.assert_allclose(stats.sums, sums, rtol=1e-9, atol=1e-9)
            for b in (0, 50, len(hist.cuts)):
                inside = raw[index == b]
                assert (stats.minimum[b], stats.maximum[b]) == (inside.min(), inside.max())
    assert [h.cuts for h in first.histograms] == [h.cuts for h in second.histograms]


def test_thousands_of_categories_all_null_and_constant_columns(tmp_path):
    rng = np.random.default_rng(5)
    n = 20_000
    ids = [f"user-{i}" for i in rng.integers(0, 5_000, n)]
    ref = write_parquet(
        tmp_path / "ref.parquet",
        {"user": ids, "empty": pa.nulls(n, pa.float64()), "flag": [1.0] * n},
    )
    cur_ids = [f"user-{i}" for i in rng.integers(2_500, 7_500, n)]  # half of them never seen
    seen = set(ids)
    cur = write_parquet(
        tmp_path / "cur.parquet",
        {"user": cur_ids, "empty": pa.nulls(n, pa.float64()), "flag": [1.0] * n},
    )

    profile = DuckDbProfiler(category_cap=200).profile(ParquetSource((ref,)), ParquetSource((cur,)))

    user, empty, flag = profile.histograms
    assert len(user.categories) == 201 and user.categories[-1] == OTHER
    assert sum(user.reference_counts) == n and sum(user.current_counts) + user.unseen_total == n
    assert len(user.unseen) == 20 and user.unseen_total == sum(1 for u in cur_ids if u not in seen)
    assert (empty.reference.missing, empty.current.missing) == (n, n)
    assert flag.reference.minimum == flag.reference.maximum == 1.0

    from shared.drift.detect import detect_drift

    statuses = {f.feature: f.status for f in detect_drift(profile).features}
    assert statuses["empty"] != "ok" and statuses["flag"] != "ok"
