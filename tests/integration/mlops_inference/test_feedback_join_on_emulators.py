"""The service's wiring on the emulators profile: for each capture sink, the lookup ServiceDeps builds for
/feedback reads the backend the sink wrote to (fake-gcs-server's bucket, bqemulator's table)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from mlops_inference.main import ServiceDeps
from shared.adapters.bigquery_captured_predictions import BigQueryCapturedPredictions
from shared.adapters.parquet_captured_predictions import ObjectStoreCapturedPredictions
from shared.deps import current_deps
from tests.integration.conftest import PROJECT

pytestmark = pytest.mark.integration


@pytest.fixture
def deps(monkeypatch, tmp_path, storage_client, bigquery_emulator, bigquery_client) -> ServiceDeps:
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "emulators")
    monkeypatch.setenv("MLOPS_EVENTS_GCP_PROJECT", PROJECT)
    monkeypatch.setenv("MLOPS_EVENTS_BIGQUERY_ENDPOINT", bigquery_emulator.url)
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(tmp_path))
    return ServiceDeps(current_deps())


@pytest.mark.parametrize(
    ("sink", "kind"), [("parquet", ObjectStoreCapturedPredictions), ("bigquery", BigQueryCapturedPredictions)]
)
def test_the_lookup_reads_what_the_capture_sink_wrote(deps, sink, kind):
    env = f"it{uuid.uuid4().hex[:8]}"  # a bucket (and rows) of this test's own
    request_id = uuid.uuid4().hex
    served_at = datetime.now(UTC).replace(microsecond=0)
    record = {
        "request_id": request_id,
        "row": 3,
        "served_at": served_at,
        "model": "fraud",
        "version": 4,
        "env": env,
        "kind": "tabular",
        "features": {"amount": 1.0},
        "prediction": 0.625,
        "label": "1",
        "confidence": 0.625,
    }
    deps.predictions(sink, env).write([record])

    lookup = deps.captured(sink, env, days=1)
    found = lookup.find("fraud", env, request_id, 3)

    assert isinstance(lookup, kind)
    assert found is not None and (found.version, found.prediction, found.served_at) == (4, 0.625, served_at)
    assert lookup.find("fraud", env, request_id, 0) is None
