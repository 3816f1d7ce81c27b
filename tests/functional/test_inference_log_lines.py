"""The inference service's log lines, as Cloud Run collects them from its stdout.

GIVEN the service started as the container starts it (`python -m mlops_inference.server --access-log`)
WHEN it loads its model and answers a request carrying `traceparent` and `X-Request-Id`
THEN every line it prints is JSON with a `severity`; its own INFO line ("serving X vN") is there; the
request's lines carry its request id and `logging.googleapis.com/trace`; the id comes back in the answer;
a request id that is no plain token is replaced, never logged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from tests.support.inference_support import MODEL, model_files, register
from tooling.local_server import free_port, wait_until_listening
from tooling.manifest import REPO_ROOT

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def served(tmp_path, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state))
    register(state, 1, model_files())
    port = free_port()
    env = {**os.environ, "MODEL_NAME": MODEL, "ENV": "dev", "MLOPS_EVENTS_GCP_PROJECT": "log-project",
           "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'containers' / 'inference'}"}  # fmt: skip
    command = [
        sys.executable,
        "-m",
        "mlops_inference.server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--access-log",
    ]
    log = (tmp_path / "stdout.log").open("w+")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process)
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(10)


def lines(log) -> list[str]:
    log.flush()
    log.seek(0)
    return [line for line in log.read().splitlines() if line.strip()]


def test_every_line_is_json_with_severity_request_id_and_trace(served):
    url, log = served
    headers = {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01", "X-Request-Id": "req-12345"}
    for _ in range(50):  # the model loads in the background: ready within seconds
        if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
            break
        import time

        time.sleep(0.2)
    answer = httpx.post(
        f"{url}/predict", json={"rows": [{"amount": 50.0, "country": "FR"}]}, headers=headers, timeout=10
    )
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "req-12345"
    hostile = httpx.get(f"{url}/healthz", headers={"X-Request-Id": b"bad id\t<!channel>"}, timeout=5)
    assert hostile.headers["x-request-id"] != "bad id" and len(hostile.headers["x-request-id"]) == 32

    printed = lines(log)
    parsed = [json.loads(line) for line in printed]  # every line: JSON, or this raises
    assert all(line["severity"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"} for line in parsed)
    assert any(line["message"].startswith(f"serving {MODEL} v1") for line in parsed)
    [access] = [line for line in parsed if "POST /predict" in line["message"]]
    assert access["request_id"] == "req-12345"
    assert access["logging.googleapis.com/trace"] == f"projects/log-project/traces/{TRACE}"
    assert not any("<!channel>" in line or "bad id" in line for line in printed)
