"""The second pass when it cannot do its job: sources gone, data changed in between, no reader at all.

GIVEN few bins (wide brackets) on continuous data, so that the verdicts need a second pass
WHEN that pass fails or is impossible
THEN the run still ends with an honest bracket that holds the exact value, and the verdict says why.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import ks_2samp, wasserstein_distance

from shared.drift.detect import DriftConfig, detect_drift
from shared.drift.engines.duckdb_parquet import DuckDbProfiler, ParquetSource

FINE_BINS = 6  # wide brackets on purpose


@pytest.fixture(autouse=True)
def no_tails(monkeypatch):
    """The first pass keeps no bin's values: every doubt needs a second pass."""
    from shared.drift import column_profile

    monkeypatch.setattr(column_profile, "TAIL_VALUES", 0)


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(3)
    reference, current = rng.lognormal(0, 1, 5000), rng.lognormal(0.1, 1.1, 5000)
    paths = {}
    for name, values in (("reference", reference), ("current", current)):
        paths[name] = str(tmp_path / f"{name}.parquet")
        pq.write_table(pa.table({"x": values}), paths[name])
    exact = wasserstein_distance(reference, current) / reference.std()
    return paths, exact, ks_2samp(reference, current).statistic


def _profile(paths):
    profiler = DuckDbProfiler(fine_bins=FINE_BINS)
    return profiler.profile(ParquetSource((paths["reference"],)), ParquetSource((paths["current"],)))


def test_with_both_sides_readable_the_second_pass_makes_it_exact(files):
    paths, exact, ks = files
    [feature] = detect_drift(_profile(paths)).features
    assert feature.resolution == "refined" and "second pass read" in feature.resolution_detail
    assert feature.wasserstein == pytest.approx(exact, rel=0.05)
    assert abs(feature.ks - ks) <= 0.005


def test_a_reference_gone_since_it_was_profiled_leaves_the_bracket_and_says_so(files):
    paths, exact, _ = files
    profile = _profile(paths)
    os.remove(paths["reference"])  # a cached reference whose files were deleted since

    [feature] = detect_drift(profile).features

    assert "could not be read again" in feature.resolution_detail
    assert feature.wasserstein_low <= exact <= feature.wasserstein_high
    assert feature.wasserstein_low < feature.wasserstein_high


def test_data_that_changed_between_the_passes_is_not_mixed_into_the_numbers(files, tmp_path):
    paths, exact, _ = files
    profile = _profile(paths)
    grown = str(tmp_path / "grown.parquet")  # the window gained rows after it was counted
    values = pq.read_table(paths["current"])["x"].to_numpy()
    pq.write_table(pa.table({"x": np.append(values, values[:100] * 1.01)}), grown)
    engine = DuckDbProfiler(fine_bins=FINE_BINS)
    profile = dataclasses.replace(profile, current_values=lambda r: engine.value_counts(ParquetSource((grown,)), r))

    [feature] = detect_drift(profile).features

    assert "changed between the passes" in feature.resolution_detail
    assert feature.wasserstein_low <= exact <= feature.wasserstein_high


def test_without_any_second_pass_a_straddling_bracket_is_called_an_estimate(files):
    paths, exact, _ = files
    profile = dataclasses.replace(_profile(paths), reference_values=None, current_values=None)
    first = detect_drift(profile).features[0]
    # a threshold inside the first pass's bracket: the verdict cannot be certain
    threshold = (first.wasserstein_low + first.wasserstein_high) / 2
    config = DriftConfig(methods={"x": ("wasserstein", threshold)})

    [feature] = detect_drift(profile, config).features

    assert feature.resolution == "estimate"
    assert "cannot re-read" in feature.resolution_detail and "straddles" in feature.resolution_detail
    assert feature.wasserstein_low <= exact <= feature.wasserstein_high
