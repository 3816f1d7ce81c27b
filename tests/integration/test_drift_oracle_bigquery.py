"""The BigQuery SQL drift engine, on bqemulator, against scipy on the raw values (hypothesis).

The same families and checks as the DuckDB oracle suite (tests/unit/test_drift_oracle.py): every
Wasserstein/std within 0.01 or 5% of scipy's, KS within 0.005 of ks_2samp's, the exact values inside
the printed brackets, and every verdict the one the exact values give. Fewer examples: each loads two
tables into the emulator. Also: a Parquet reference (DuckDB) against a BigQuery current window.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from shared.drift.bigquery_profiler import BigQueryProfiler, TableSource
from shared.drift.detect import detect_drift
from shared.drift.duckdb_profiler import DuckDbProfiler, ParquetSource
from tests.drift_oracle import Case, cases
from tests.integration.conftest import PROJECT
from tests.unit.test_drift_oracle import CONFIG, check_against_oracle

pytestmark = pytest.mark.integration


def _load(client: Any, dataset: str, name: str, values: np.ndarray, folder: Path) -> str:
    from google.cloud import bigquery

    path = folder / f"{name}.parquet"
    pq.write_table(pa.table({"w": values, "k": values}), path)
    table_id = f"{dataset}.{name}"
    schema = [bigquery.SchemaField(column, "FLOAT64") for column in ("w", "k")]
    client.create_table(bigquery.Table(table_id, schema=schema), timeout=10)  # bqemulator loads into a table only
    job = client.load_table_from_file(
        io.BytesIO(path.read_bytes()),
        table_id,
        job_config=bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET),
        timeout=10,
    )
    job.result(timeout=30, retry=bigquery.DEFAULT_RETRY.with_deadline(30))
    return table_id


@pytest.fixture(scope="module")
def dataset(bigquery_client: Any) -> str:
    name = f"{PROJECT}.oracle_{uuid.uuid4().hex[:12]}"
    bigquery_client.create_dataset(name, timeout=10)
    return name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(max_rows=2500))
def test_bigquery_engine_agrees_with_scipy_on_raw_values(bigquery_client, dataset, tmp_path, case: Case):
    tag = uuid.uuid4().hex[:8]
    ref = _load(bigquery_client, dataset, f"ref_{tag}", case.reference, tmp_path)
    cur = _load(bigquery_client, dataset, f"cur_{tag}", case.current, tmp_path)
    profiler = BigQueryProfiler(bigquery_client, timeout_s=30)
    profile = profiler.profile(TableSource(ref), TableSource(cur))
    check_against_oracle(case, {f.feature: f for f in detect_drift(profile, CONFIG).features})


def test_a_parquet_reference_refined_against_a_bigquery_window(bigquery_client, dataset, tmp_path):
    """The reference profiled by DuckDB, the current counted in BigQuery on its cuts: both sides re-read
    by their own engine where bins leave doubt."""
    rng = np.random.default_rng(7)
    case = Case("lognormal", rng.lognormal(0, 1, 3000), rng.lognormal(0.05, 1, 3000))
    pq.write_table(pa.table({"w": case.reference, "k": case.reference}), tmp_path / "ref.parquet")
    reference = DuckDbProfiler().reference(ParquetSource((str(tmp_path / "ref.parquet"),)))
    cur = _load(bigquery_client, dataset, f"cur_{uuid.uuid4().hex[:8]}", case.current, tmp_path)
    profile = BigQueryProfiler(bigquery_client, timeout_s=30).compare(reference, TableSource(cur))
    assert profile.reference_values is None  # BigQuery cannot read Parquet: the caller supplies it
    duckdb = DuckDbProfiler()
    source = reference.source
    profile = type(profile)(**{**profile.__dict__, "reference_values": lambda r: duckdb.value_counts(source, r)})
    check_against_oracle(case, {f.feature: f for f in detect_drift(profile, CONFIG).features})
