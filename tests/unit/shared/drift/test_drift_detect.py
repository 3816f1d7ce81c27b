"""Parquet in, drift decisions out: the DuckDB profile and the statistics together."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.drift.detect import DriftConfig, detect_drift
from shared.drift.engines.duckdb_parquet import DuckDbProfiler, ParquetSource


def frame(rng: np.random.Generator, rows: int, *, shifted: bool) -> pa.Table:
    cities = np.array(["paris", "lyon", "nice", "lille"], dtype=object)
    weights = [0.1, 0.2, 0.3, 0.4] if shifted else [0.4, 0.3, 0.2, 0.1]
    return pa.table(
        {
            "amount": rng.lognormal(3.0 + (0.4 if shifted else 0.0), 0.5, rows),
            "age": rng.integers(18, 80, rows),
            "score": rng.normal(0.0, 1.0, rows),
            "city": cities[rng.choice(4, rows, p=weights)],
            "channel": np.array(["web", "app"], dtype=object)[rng.integers(0, 2, rows)],
        }
    )


@pytest.fixture
def sources(tmp_path):
    rng = np.random.default_rng(11)
    pq.write_table(frame(rng, 30_000, shifted=False), tmp_path / "ref.parquet")
    pq.write_table(frame(rng, 20_000, shifted=True), tmp_path / "cur.parquet")
    pq.write_table(frame(rng, 20_000, shifted=False), tmp_path / "same.parquet")
    return {name: ParquetSource((str(tmp_path / f"{name}.parquet"),)) for name in ("ref", "cur", "same")}


def test_known_drift_is_found_and_nothing_else(sources):
    result = detect_drift(DuckDbProfiler().profile(sources["ref"], sources["cur"]))
    assert {f.feature for f in result.features if f.drifted} == {"amount", "city"}
    assert result.features[0].feature in {"amount", "city"}  # most drifted first
    assert result.drifted_share == pytest.approx(2 / 5)
    assert result.dataset_drifted  # 0.4 >= 0.3


def test_no_drift_between_two_samples_of_the_same_data(sources):
    result = detect_drift(DuckDbProfiler().profile(sources["ref"], sources["same"]))
    assert [f.feature for f in result.features if f.drifted] == []
    assert not result.dataset_drifted


def test_method_and_threshold_per_feature(sources):
    config = DriftConfig(methods={"score": ("psi", 0.0)}, drift_share=0.9)
    result = detect_drift(DuckDbProfiler().profile(sources["ref"], sources["same"]), config)
    score = next(f for f in result.features if f.feature == "score")
    assert (score.method, score.drifted) == ("psi", True)  # any PSI >= 0 drifts at threshold 0
    assert not result.dataset_drifted  # one of five is below a 0.9 share
