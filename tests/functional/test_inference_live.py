"""The inference service as it runs: a live uvicorn server over real HTTP (requests in flight while a
new version is registered and swapped in), and the Lambda handler through mangum with the saved API
Gateway HTTP API v2 and Function URL events."""

from __future__ import annotations

import gc
import importlib
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from mlops_inference.app import create_app
from mlops_inference.main import build_service
from mlops_inference.settings import ServiceSettings
from tests.support.inference_support import MODEL, model_files, register
from tooling.inference_local import serving
from tooling.local_lambda import LocalLambdaContext
from tooling.manifest import REPO_ROOT

EVENTS = REPO_ROOT / "events" / "http"


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    state_dir = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state_dir))
    return state_dir


@pytest.fixture
def live(state):
    """uvicorn serving the app on a free port, in this process (so the test can watch the swap)."""
    register(state, 1, model_files(bias=0.0))
    settings = ServiceSettings(model_name=MODEL, env="dev", reload_s=0.2, max_wait_ms=2.0)
    with serving(create_app(build_service(settings))) as url:
        yield url


def test_a_new_version_is_swapped_in_while_requests_flow_and_none_is_dropped(live, state):
    row = {"amount": 62.5, "country": "US"}
    stop = threading.Event()
    seen: list[tuple[int, int]] = []

    def client() -> None:
        with httpx.Client(base_url=live, timeout=10) as http:
            while not stop.is_set():
                response = http.post("/predict", json={"rows": [row, row]})
                seen.append((response.status_code, response.json().get("version", -1)))

    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(client)
        time.sleep(0.5)
        register(state, 2, model_files(bias=2.0))  # the reload thread finds it within 0.2 s
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(v == 2 for _, v in seen[-8:]):
            time.sleep(0.05)
        time.sleep(0.3)
        stop.set()

    statuses = {status for status, _ in seen}
    versions = [version for _, version in seen]
    assert statuses == {200}, f"dropped or failed requests: {statuses}"
    assert 1 in versions and versions[-1] == 2
    first_new = versions.index(2)
    assert all(v == 2 for v in versions[first_new + 8 :])  # after the swap (8 clients in flight), only v2
    metrics = httpx.get(f"{live}/metrics").text
    batch_count = float(
        next(line.split()[-1] for line in metrics.splitlines() if line.startswith("inference_batch_rows_count"))
    )
    rows = float(next(line.split()[-1] for line in metrics.splitlines() if line.startswith("inference_rows_total")))
    assert batch_count < rows / 2  # concurrent requests shared forward passes


@pytest.fixture
def lambda_module(state, monkeypatch):
    register(state, 1, model_files())
    monkeypatch.setenv("MODEL_NAME", MODEL)
    monkeypatch.setenv("ENV", "dev")
    sys.modules.pop("mlops_inference.lambda_handler", None)
    thresholds = gc.get_threshold()  # the handler's INIT sets them for its process (tune_gc): not for pytest's
    module = importlib.import_module("mlops_inference.lambda_handler")  # the container's INIT
    assert gc.get_threshold()[0] == module._configured.gc_gen0
    yield module
    gc.set_threshold(*thresholds)
    sys.modules.pop("mlops_inference.lambda_handler", None)


@pytest.mark.parametrize("fixture", ["apigw-v2-predict.json", "function-url-predict.json"])
def test_the_lambda_handler_answers_api_gateway_v2_and_function_url_events(lambda_module, fixture):
    event = json.loads((EVENTS / fixture).read_text())
    loaded_at = lambda_module.service.holder.current.loaded_at

    responses = [lambda_module.handler(event, LocalLambdaContext("inference")) for _ in range(3)]

    for response in responses:
        assert response["statusCode"] == 200, response
        body = json.loads(response["body"])
        assert (body["model"], body["version"]) == (MODEL, 1) and len(body["predictions"]) == 1
    # Loaded once, at INIT: mangum's per-invocation lifespan is off, so no reload per call
    assert lambda_module.service.holder.current.loaded_at == loaded_at


def test_the_lambda_handler_answers_bad_input_like_the_service(lambda_module):
    event = json.loads((EVENTS / "apigw-v2-predict.json").read_text())
    event["body"] = json.dumps({"rows": [{"amount": "a lot", "country": "US"}]})
    response = lambda_module.handler(event, LocalLambdaContext("inference"))
    assert response["statusCode"] == 422 and "amount" in response["body"]
    health = {**event, "rawPath": "/healthz", "body": None}
    health["requestContext"] = {
        **event["requestContext"],
        "http": {**event["requestContext"]["http"], "method": "GET", "path": "/healthz"},
    }
    assert lambda_module.handler(health, LocalLambdaContext("inference"))["statusCode"] == 200
