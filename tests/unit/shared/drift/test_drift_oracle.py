"""The DuckDB drift engine against scipy on raw values, on samples of many families (hypothesis).

GIVEN a reference and a current sample (normal, heavy tails, counts with values beyond either side's
range, rounded floats, large offsets, constants, tiny samples, subnormal, huge and non-finite values)
WHEN the engine profiles their Parquet files and decides
THEN every Wasserstein/std it prints is within 0.01 or 5% of scipy's, KS within 0.005 of ks_2samp's,
and every verdict (Wasserstein at 0.1, KS at p < 0.05) is the one the exact values give.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.drift.detect import DriftConfig, detect_drift
from shared.drift.engines.duckdb_parquet import DuckDbProfiler, ParquetSource
from tests.support.drift_oracle import (
    FAMILIES,
    KS_P_THRESHOLD,
    W_THRESHOLD,
    Case,
    cases,
    close_enough_wasserstein,
    oracle,
)

CONFIG = DriftConfig(methods={"w": ("wasserstein", W_THRESHOLD), "k": ("ks", KS_P_THRESHOLD)})


def _write(path, values: np.ndarray) -> str:
    pq.write_table(pa.table({"w": values, "k": values}), path)
    return str(path)


def engine_verdicts(tmp_path, case: Case, fine_bins: int | None = None):
    ref = _write(tmp_path / "reference.parquet", case.reference)
    cur = _write(tmp_path / "current.parquet", case.current)
    profiler = DuckDbProfiler(fine_bins=fine_bins) if fine_bins else DuckDbProfiler()
    profile = profiler.profile(ParquetSource((ref,)), ParquetSource((cur,)))
    return {f.feature: f for f in detect_drift(profile, CONFIG).features}


# Values below the smallest normal double (2.2e-308) are subnormals, spaced 5e-324 apart: the engine's
# products of CDF levels and widths round to that spacing, so its "exact" W/std is exact to about 1e-4.
SUBNORMAL_SLACK = 1e-3


def _subnormal(case: Case) -> bool:
    ref, cur = case.finite()
    return bool(len(ref) and len(cur)) and max(np.abs(ref).max(), np.abs(cur).max()) < sys.float_info.min


def check_against_oracle(case: Case, found) -> None:
    truth = oracle(case)
    w, k = found["w"], found["k"]
    if truth is None:
        assert w.status == "all_missing" and not w.drifted
        return
    if truth.constant_reference:
        assert w.drifted == truth.changed, (w.status, w.detail)
        return
    assert abs(k.ks - truth.ks) <= 0.005, (k.ks, truth.ks, k.resolution_detail)
    assert k.ks <= truth.ks + 1e-12 <= k.ks_upper_bound + 2e-12, "the bracket holds the exact KS"
    if not math.isclose(truth.ks_p, KS_P_THRESHOLD, rel_tol=1e-9):
        assert k.drifted == (truth.ks_p < KS_P_THRESHOLD), (k.ks, truth.ks, k.ks_upper_bound, k.resolution_detail)
    if truth.wasserstein is None:
        return
    assert close_enough_wasserstein(w.wasserstein, truth.wasserstein), (w.wasserstein, truth.wasserstein)
    slack = 1e-6 * max(1.0, truth.wasserstein)  # two float std computations (numpy, the engine) differ
    if _subnormal(case):  # W is summed at the subnormals' granularity (README: drift, precision)
        slack = SUBNORMAL_SLACK * max(1.0, truth.wasserstein)
    assert w.wasserstein_low - slack <= truth.wasserstein <= w.wasserstein_high + slack, (
        "the bracket holds the exact value",
        w.wasserstein_low,
        truth.wasserstein,
        w.wasserstein_high,
    )
    if abs(truth.wasserstein - W_THRESHOLD) > 1e-9:
        assert w.drifted == (truth.wasserstein >= W_THRESHOLD), (w.wasserstein, truth.wasserstein, w.resolution_detail)
    assert w.resolution in ("exact", "bracket", "refined"), w.resolution_detail


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(max_rows=20_000))
def test_duckdb_engine_agrees_with_scipy_on_raw_values(tmp_path, case):
    check_against_oracle(case, engine_verdicts(tmp_path, case))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(max_rows=3000), fine_bins=st.sampled_from([8, 50]))
def test_coarse_bins_are_refined_to_the_same_answers(tmp_path, case, fine_bins):
    """Few bins leave wide brackets: the second passes (several rounds, both sides read) must still
    reach scipy's numbers and verdicts."""
    check_against_oracle(case, engine_verdicts(tmp_path, case, fine_bins))


@pytest.mark.parametrize("seed", range(3))
def test_an_unchanged_count_column_with_one_value_beyond_the_reference_is_exact_and_not_drifted(tmp_path, seed):
    # The false alarm: Poisson counts, the current holds one value above the reference's max.
    rng = np.random.default_rng(seed)
    ref = rng.poisson(3, 20_000).astype(np.float64)
    cur = np.append(rng.poisson(3, 19_999), ref.max() + 1).astype(np.float64)
    case = Case("poisson", ref, cur)
    found = engine_verdicts(tmp_path, case)
    check_against_oracle(case, found)
    assert not found["w"].drifted and found["w"].wasserstein_low == found["w"].wasserstein_high


@pytest.mark.parametrize("family", ["huge", "tiny", "subnormal"])
@pytest.mark.parametrize("seed", range(8))
def test_magnitudes_whose_squares_overflow_or_underflow_agree_too(tmp_path, family, seed):
    """Normals times 1e300 had an infinite std (W/std 0: never drifted), times 1e-170 or in the subnormals
    a std of 0 (W/std inf: always drifted). The oracle computes both on the values times a power of two."""
    rng = np.random.default_rng(seed)
    shift, scale = [0.0, 0.05, 0.2, 0.5][seed % 4], [1.0, 1.5][seed % 2]
    generate = FAMILIES[family]
    case = Case(family, generate(rng, 3000, 0.0, 1.0), generate(rng, 2500, shift, scale))
    check_against_oracle(case, engine_verdicts(tmp_path, case))
    assert oracle(case).wasserstein is not None  # compared, not skipped


@given(case=cases(max_rows=300))
@example(
    case=Case("cauchy", np.random.default_rng(1).standard_cauchy(3000), np.random.default_rng(2).standard_cauchy(3000))
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_integers_stored_as_integers_agree_too(tmp_path, case):
    """The same families rounded to integers and stored as BIGINT (the engine cuts short ranges at every integer)."""
    with np.errstate(invalid="ignore", over="ignore"):
        ref, cur = case.finite()
        ref = np.clip(np.round(ref), -1e15, 1e15).astype(np.int64)
        cur = np.clip(np.round(cur), -1e15, 1e15).astype(np.int64)
    if not len(ref) or not len(cur):
        return
    integer_case = Case(case.family, ref.astype(np.float64), cur.astype(np.float64))
    tmp = tmp_path
    pq.write_table(pa.table({"w": ref, "k": ref}), tmp / "r.parquet")
    pq.write_table(pa.table({"w": cur, "k": cur}), tmp / "c.parquet")
    profile = DuckDbProfiler().profile(
        ParquetSource((str(tmp / "r.parquet"),)), ParquetSource((str(tmp / "c.parquet"),))
    )
    check_against_oracle(integer_case, {f.feature: f for f in detect_drift(profile, CONFIG).features})
