"""The BigQuery SQL drift engine, on bqemulator, against scipy on the raw values (hypothesis).

The same families and checks as the DuckDB oracle suite (tests/unit/shared/drift/test_drift_oracle.py): every
Wasserstein/std within 0.01 or 5% of scipy's, KS within 0.005 of ks_2samp's, the exact values inside
the printed brackets, and every verdict the one the exact values give. Fewer examples: each loads two
tables into the emulator. Also: a Parquet reference (DuckDB) against a BigQuery current window.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from shared.drift.detect import detect_drift
from shared.drift.engines.bigquery_sql import BigQueryProfiler, TableSource
from shared.drift.engines.duckdb_parquet import DuckDbProfiler
from tests.integration.conftest import PROJECT
from tests.integration.shared.drift.test_bigquery_sql import load_table
from tests.support.drift_oracle import FAMILIES, Case, cases
from tests.unit.shared.drift.test_drift_oracle import CONFIG, check_against_oracle

pytestmark = pytest.mark.integration


def _load(client: Any, dataset: str, name: str, values: np.ndarray, folder: Path) -> str:
    return load_table(client, dataset, name, pa.table({"w": values, "k": values}), folder)[0]


@pytest.fixture(scope="module")
def dataset(bigquery_client: Any) -> str:
    name = f"{PROJECT}.oracle_{uuid.uuid4().hex[:12]}"
    bigquery_client.create_dataset(name, timeout=10)
    return name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(max_rows=2500))
def test_bigquery_engine_agrees_with_scipy_on_raw_values(bigquery_client, dataset, tmp_path, case: Case):
    _check(bigquery_client, dataset, tmp_path, case)


@pytest.mark.parametrize("family", ["huge", "tiny", "subnormal"])
@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_magnitudes_whose_squares_overflow_or_underflow_agree_in_sql_too(
    bigquery_client, dataset, tmp_path, family, shift
):
    """AVG(d * d) overflowed near 1e300 and underflowed near 1e-170: the moments are taken on d scaled by a
    power of two the reference's own reach gives (`moments_scale`); the current side's are not scaled."""
    rng = np.random.default_rng(7)
    generate = FAMILIES[family]
    _check(
        bigquery_client, dataset, tmp_path, Case(family, generate(rng, 1500, 0.0, 1.0), generate(rng, 1200, shift, 1.0))
    )


def test_a_current_far_from_a_tiny_reference_keeps_its_own_std(bigquery_client, dataset, tmp_path):
    """A scale taken from a 1e-170 reference, applied to a current of ordinary values, made the current's
    squares overflow (inf here; an error in BigQuery): the current's moments are not scaled."""
    rng = np.random.default_rng(3)
    case = Case("tiny", rng.normal(0, 1, 800) * 1e-170, rng.normal(0, 1, 700))
    profile = _check(bigquery_client, dataset, tmp_path, case)
    [histogram] = [h for h in profile.histograms if h.feature == "w"]
    assert histogram.current.std == pytest.approx(float(case.current.std()), rel=1e-9)


def test_values_beyond_the_cuts_set_the_scale_too(bigquery_client, dataset, tmp_path):
    """A discrete reference {0, 1e300}: its one cut is 0, but its values reach 1e300."""
    rng = np.random.default_rng(4)
    reference = np.where(rng.random(1000) < 0.5, 0.0, 1e300)
    current = np.where(rng.random(900) < 0.6, 0.0, 1e300)
    profile = _check(bigquery_client, dataset, tmp_path, Case("huge", reference, current))
    [histogram] = [h for h in profile.histograms if h.feature == "w"]
    assert histogram.reference.std == pytest.approx(float((reference / 1e300).std()) * 1e300, rel=1e-9)


def _check(bigquery_client: Any, dataset: str, tmp_path: Path, case: Case) -> Any:
    tag = uuid.uuid4().hex[:8]
    ref = _load(bigquery_client, dataset, f"ref_{tag}", case.reference, tmp_path)
    cur = _load(bigquery_client, dataset, f"cur_{tag}", case.current, tmp_path)
    profiler = BigQueryProfiler(bigquery_client, timeout_s=30)
    profile = profiler.profile(TableSource(ref), TableSource(cur))
    check_against_oracle(case, {f.feature: f for f in detect_drift(profile, CONFIG).features})
    return profile


@pytest.mark.parametrize("reference_in", ["parquet", "bigquery"])
def test_mixed_engines_each_read_their_own_side_again(bigquery_client, dataset, tmp_path, monkeypatch, reference_in):
    """A Parquet training set against a BigQuery window, and the other way round, through the profiler the
    function uses: where bins leave doubt, each side is read again by its own engine."""
    from shared.adapters.local_parquet_files import LocalParquetFiles
    from shared.drift import column_profile
    from shared.drift.engines.by_location import DriftSourceProfiler
    from shared.drift.engines.parquet_files import ParquetProfiler
    from shared.payloads.drift import DataLocation

    monkeypatch.setattr(column_profile, "TAIL_VALUES", 0)  # no kept tails: the doubt needs a second pass
    rng = np.random.default_rng(7)
    case = Case("lognormal", rng.lognormal(0, 1, 3000), rng.lognormal(0.05, 1, 3000))
    (tmp_path / "bucket").mkdir()
    locations = {}
    for side, values in (("reference", case.reference), ("current", case.current)):
        if (side == "reference") == (reference_in == "parquet"):
            pq.write_table(pa.table({"w": values, "k": values}), tmp_path / "bucket" / f"{side}.parquet")
            locations[side] = DataLocation("bucket", f"{side}.parquet")
        else:
            table = _load(bigquery_client, dataset, f"{side}_{uuid.uuid4().hex[:8]}", values, tmp_path)
            locations[side] = DataLocation("", "", table=table)
    profiler = DriftSourceProfiler(
        parquet=lambda: ParquetProfiler(LocalParquetFiles(tmp_path), profiler=DuckDbProfiler(fine_bins=20)),
        bigquery=lambda: BigQueryProfiler(bigquery_client, fine_bins=20, timeout_s=30),
    )

    profile = profiler.profile(locations["reference"], locations["current"], current_window=(None, None))
    found = {f.feature: f for f in detect_drift(profile, CONFIG).features}

    check_against_oracle(case, found)
    assert "second pass read" in found["w"].resolution_detail
