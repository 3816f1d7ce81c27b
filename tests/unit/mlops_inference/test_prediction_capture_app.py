"""Prediction capture end to end on the embedded profile: the service answers through FastAPI's TestClient,
the captures land as Parquet under the local `ml-predictions-dev` bucket, and the drift job, run on those
files, reports feature, prediction and confidence drift and names the versions that answered."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from handlers import drift_report
from mlops_inference.app import create_app
from mlops_inference.main import build_service
from mlops_inference.settings import ServiceSettings
from shared.adapters.local_parquet_files import LocalParquetFiles
from shared.drift.engines.parquet_files import ParquetProfiler
from shared.outcome import Status
from shared.payloads.drift import parse_drift_request
from tests.support.fakes import FakeDeps
from tests.support.inference_support import MODEL, model_files, register


def client_for(**overrides) -> TestClient:
    settings = ServiceSettings(model_name=MODEL, env="dev", reload_s=0, **{"capture_flush_s": 0.05, **overrides})
    return TestClient(create_app(build_service(settings)))


def captured(state) -> pa.Table:
    files = sorted((state / "buckets" / "ml-predictions-dev" / MODEL).glob("dt=*/part-*.parquet"))
    assert files, "no capture written"
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


def rows(rng, n: int, *, shifted: bool) -> list[dict]:
    amounts = rng.normal(90 if shifted else 50, 10, n)
    countries = rng.choice(["FR", "US"], n, p=[0.8, 0.2] if shifted else [0.2, 0.8])
    return [{"amount": float(a), "country": str(c)} for a, c in zip(amounts, countries, strict=True)]


def test_every_served_row_is_captured_with_its_features_output_and_confidence(state):
    register(state, 1, model_files())
    with client_for() as client:
        answers = [client.post("/predict", json={"rows": [{"amount": 10.0 * i, "country": "US"}] * 2}).json()
                   for i in range(5)]  # fmt: skip
    # the service stopped: what was queued is flushed
    table = captured(state).to_pylist()
    assert len(table) == 10
    by_id = {(r["request_id"], r["row"]): r for r in table}
    for i, answer in enumerate(answers):
        for row in range(2):
            record = by_id[(answer["request_id"], row)]
            assert (record["model"], record["model_version"], record["env"]) == (MODEL, "v1", "dev")
            assert (record["amount"], record["country"], record["kind"]) == (10.0 * i, "US", "tabular")
            assert record["prediction"] == pytest.approx(answer["predictions"][row])
            assert record["confidence"] == pytest.approx(max(record["prediction"], 1 - record["prediction"]))
            assert record["served_at"].tzinfo is not None
    day = table[0]["served_at"].strftime("%Y-%m-%d")
    assert (state / "buckets" / "ml-predictions-dev" / MODEL / f"dt={day}").is_dir()


def test_capture_off_writes_nothing_and_a_full_queue_is_counted_not_waited_on(state):
    register(state, 1, model_files())
    with client_for(capture_rate=0.0) as client:
        assert client.post("/predict", json={"rows": [{"amount": 1.0, "country": "US"}]}).status_code == 200
    assert not (state / "buckets" / "ml-predictions-dev").exists()

    with client_for(capture_queue=3, capture_batch=1000, capture_flush_s=3600) as client:
        assert client.post("/predict", json={"rows": [{"amount": 1.0, "country": "US"}] * 5}).status_code == 200
        metrics = client.get("/metrics").text
        assert 'inference_capture_dropped_rows_total{reason="queue_full",sink="parquet"} 2.0' in metrics
    assert len(captured(state)) == 3


def test_drift_over_the_captured_window_reports_features_outputs_and_versions(state):
    # GIVEN a reference like the training data, and two phases of served traffic: like it, then shifted,
    # the second answered by v1 and then v2
    rng = np.random.default_rng(7)
    reference = state / "buckets" / "ml-drift-dev" / MODEL / "reference"
    reference.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows(rng, 2000, shifted=False)), reference / "part-0.parquet")
    register(state, 1, model_files())
    with client_for() as client:
        t0 = datetime.now(UTC)
        for _ in range(10):
            assert client.post("/predict", json={"rows": rows(rng, 50, shifted=False)}).status_code == 200
        time.sleep(0.01)
        t1 = datetime.now(UTC)
        time.sleep(0.01)
        for i in range(10):
            if i == 5:
                register(state, 2, model_files(bias=1.0))
                assert client.app.state.service.holder.refresh() is True
            assert client.post("/predict", json={"rows": rows(rng, 50, shifted=True)}).status_code == 200
        t2 = datetime.now(UTC)
    assert len(captured(state)) == 1000

    # WHEN the drift job reads the captures as its current window
    span = max(t1 - t0, t2 - t1) + timedelta(seconds=1)
    body = {
        "model": MODEL,
        "env": "dev",
        "reference": {"uri": f"gs://ml-drift-dev/{MODEL}/reference/*.parquet"},
        "current": {
            "uri": f"gs://ml-predictions-dev/{MODEL}/dt=*/*.parquet",
            "timestamp_column": "served_at",
            "start": t1.isoformat(),
            "end": (t1 + span).isoformat(),
            "captured": True,
        },
    }
    request = parse_drift_request(body, event_id="e1", job="drift-served", schedule_time=None)
    deps = FakeDeps()
    deps.feature_profiler = ParquetProfiler(LocalParquetFiles(state / "buckets"))
    outcome = drift_report.handle(request, deps)

    # THEN the features, the prediction and the confidence drifted, and both versions are named
    assert outcome.status is Status.APPLIED, outcome.detail
    assert "versions served: v1, v2" in outcome.detail
    [row] = deps.drift_runs.rows.values()
    assert row["current_rows"] == 500
    drifted = set(row["drifted_features"])
    assert {"amount", "country", "prediction drift: prediction", "confidence drift: confidence"} <= drifted
    [summary_name] = [n for (b, n) in deps.objects.objects if n.endswith("-summary.json")]
    summary = json.loads(deps.objects.objects[("ml-drift-logs-dev", summary_name)][1])
    assert summary["model_versions"] == ["v1", "v2"]
    assert "model versions served: v1, v2" in summary["current"]
    names = {f["feature"] for f in summary["features"]}
    assert {"prediction drift: label", "prediction drift: prediction", "confidence drift: confidence"} <= names
    assert not names & {"request_id", "row", "model", "version", "served_at"}


def test_an_image_is_captured_as_summary_features_never_its_pixels(tmp_path, monkeypatch):
    from tests.support import image_models as im

    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(tmp_path))
    window = {"center": 40, "width": 400}
    im.register(tmp_path, "ct-model", 1, im.model_files("binary", size=32, window=window))
    settings = ServiceSettings(model_name="ct-model", env="dev", reload_s=0, capture_flush_s=0.05)
    slice_file = im.dicom(im.ct_slice(lesion=True))
    with TestClient(create_app(build_service(settings))) as client:
        response = client.post("/predict", files=[("file", ("a.dcm", slice_file, "application/octet-stream"))])
        assert response.status_code == 200, response.text
    files = sorted((tmp_path / "buckets" / "ml-predictions-dev" / "ct-model").glob("dt=*/part-*.parquet"))
    [record] = pq.read_table(files[0]).to_pylist()
    answer = response.json()["predictions"][0]
    assert (record["kind"], record["label"]) == ("image", answer["label"])
    assert record["confidence"] == pytest.approx(answer["confidence"])
    assert record["file_bytes"] == len(slice_file)
    # HU within the 40/400 window: between -160 and 240, a histogram of shares that sum to 1
    assert -160 <= record["hu_mean"] <= 240 and record["hu_std"] > 0
    shares = [record[f"hu_hist_{b}"] for b in range(8)]
    assert sum(shares) == pytest.approx(1.0) and all(0 <= s <= 1 for s in shares)
    # nothing per pixel: a fixed, small set of columns
    assert len(record) < 30 and not any(isinstance(v, bytes | list) for v in record.values())
