"""The inference service through FastAPI's TestClient, on the embedded profile, with a real TorchScript
model registered the way production registers one (files in the bucket, register_model's events)."""

from __future__ import annotations

import math
import re

import pytest
from fastapi.testclient import TestClient

from mlops_inference import request_ids
from mlops_inference.app import create_app
from mlops_inference.main import build_service
from mlops_inference.settings import ServiceSettings
from tests.support.inference_support import MODEL, model_files, register

ROW = {"amount": 62.5, "country": "US"}


def client_for(**overrides) -> TestClient:
    settings = ServiceSettings(model_name=MODEL, env="dev", reload_s=0, max_wait_ms=1.0, **overrides)
    return TestClient(create_app(build_service(settings)))


def expected(files, rows):
    from mlops_inference.model import load_model

    return load_model(MODEL, 1, files).predict(rows)


def test_not_ready_until_a_model_is_registered_then_serving_it(state):
    with client_for() as client:
        assert client.get("/healthz").json() == {"status": "alive"}
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503 and "no version of tiny-fraud registered" in not_ready.json()["reason"]
        assert client.post("/predict", json={"rows": [ROW]}).status_code == 503

    files = model_files()
    register(state, 1, files)
    with client_for() as client:
        ready = client.get("/readyz").json()
        assert (ready["status"], ready["model"], ready["version"]) == ("ready", MODEL, 1)
        response = client.post("/predict", json={"rows": [ROW, {"amount": 10, "country": "XX"}]})
        body = response.json()
        assert response.status_code == 200 and (body["model"], body["version"]) == (MODEL, 1)
        assert body["output"] == "fraud_probability" and re.fullmatch(request_ids.PATTERN, body["request_id"])
        assert body["predictions"] == pytest.approx(expected(files, [ROW, {"amount": 10, "country": "XX"}]))


def test_a_newer_version_is_picked_up_without_a_restart(state):
    register(state, 1, model_files(bias=0.0))
    with client_for() as client:
        first = client.post("/predict", json={"rows": [ROW]}).json()
        register(state, 2, model_files(bias=3.0))
        # What the reload thread does every INFERENCE_RELOAD_S (the live-server test lets the thread do it)
        assert client.app.state.service.holder.refresh() is True
        second = client.post("/predict", json={"rows": [ROW]}).json()
        assert (first["version"], second["version"]) == (1, 2)
        assert second["predictions"][0] > first["predictions"][0]
        metrics = client.get("/metrics").text
        assert 'inference_model_version{model="tiny-fraud"} 2.0' in metrics


@pytest.mark.parametrize(
    ("rows", "status", "where"),
    [
        ([{"amount": float("nan"), "country": "US"}], 422, ["body", "rows", 0, "amount"]),
        ([{"amount": "12", "country": "US"}], 422, ["body", "rows", 0, "amount"]),
        ([{"country": "US"}], 422, ["body", "rows", 0, "amount"]),
        ([{"amount": 1.0, "country": 3}], 422, ["body", "rows", 0, "country"]),
        ([{"amount": 1.0, "country": "US", "extra": 1}], 422, ["body", "rows", 0, "extra"]),
        ([], 422, None),
        ([ROW] * 11, 413, None),
    ],
)
def test_bad_rows_are_answered_with_the_row_and_field(state, rows, status, where):
    register(state, 1, model_files())
    with client_for(max_rows=10) as client:
        if rows and isinstance(rows[0].get("amount"), float) and math.isnan(rows[0]["amount"]):
            response = client.post("/predict", content=b'{"rows": [{"amount": NaN, "country": "US"}]}',
                                   headers={"content-type": "application/json"})  # fmt: skip
        else:
            response = client.post("/predict", json={"rows": rows})
        assert response.status_code == status, response.text
        if where:
            assert response.json()["detail"][0]["loc"] == where


def test_a_body_over_the_limit_is_413_before_it_is_read(state):
    register(state, 1, model_files())
    with client_for(max_body_bytes=200) as client:
        response = client.post("/predict", json={"rows": [ROW] * 10})
        assert response.status_code == 413 and "over 200 bytes" in response.text
        assert (
            client.post("/predict", content=b"{not json", headers={"content-type": "application/json"}).status_code
            == 422
        )


def test_feedback_is_recorded_once_per_row_and_summarised(state):
    register(state, 1, model_files())
    with client_for() as client:
        request_id = client.post("/predict", json={"rows": [ROW, ROW]}).json()["request_id"]
        client.app.state.service.capture.flush()  # type: ignore[attr-defined]  # the rows' capture written
        for row, label, prediction in ((0, 1, 0.8), (1, 0, 0.7), (1, 0, 0.3)):  # row 1's label sent twice
            response = client.post(
                "/feedback", json={"request_id": request_id, "row": row, "label": label, "prediction": prediction}
            )
            assert response.status_code == 202
        assert client.post("/feedback", json={"request_id": request_id, "label": 2}).status_code == 422
        stats = client.get("/feedback/stats").json()
        # joined to what was served (one prediction for both rows, labelled 1 and 0), whatever was claimed
        assert (stats["labels"], stats["with_prediction"], stats["accuracy"]) == (2, 2, 0.5)
        assert stats["by_version"]["1"]["labels"] == 2 and stats["positive_share"] == 0.5


def test_monitoring_drift_returns_the_models_latest_run(state):
    from shared.adapters.sqlite_drift_runs import SqliteDriftRunStore

    register(state, 1, model_files())
    with client_for() as client:
        assert client.get("/monitoring/drift").status_code == 404
        SqliteDriftRunStore(state / "monitoring.sqlite").record(
            {"run_key": "job@t", "model": MODEL, "env": "dev", "dataset_drifted": True, "drifted_features": ["amount"]}
        )
        latest = client.get("/monitoring/drift").json()
        assert latest["dataset_drifted"] is True and latest["drifted_features"] == ["amount"]


def test_batching_off_serves_the_same_predictions(state):
    files = model_files()
    register(state, 1, files)
    with client_for(batching=False) as client:
        body = client.post("/predict", json={"rows": [ROW]}).json()
        assert body["predictions"] == pytest.approx(expected(files, [ROW]))
        assert "inference_batch_rows_count 1.0" in client.get("/metrics").text
