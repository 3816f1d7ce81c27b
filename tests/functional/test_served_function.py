"""register_model served by the functions-framework CLI, as Cloud Run serves it: real HTTP, both modes."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tooling.delivery import delivery_from_fixture
from tooling.local_server import start_function, wait_until_listening
from tooling.manifest import REPO_ROOT, function_named


@pytest.fixture
def served(state_dir: Path):
    spec = function_named("register_model")
    env = {**os.environ, "MLOPS_EVENTS_STATE_DIR": str(state_dir), "MLOPS_EVENTS_PROFILE": "embedded"}
    process, port = start_function(spec.source_path, spec.entry_point, env=env, stdout=subprocess.PIPE)
    try:
        wait_until_listening(port, process)
        yield f"http://127.0.0.1:{port}/", process
    finally:
        process.terminate()
        process.wait(10)


def post(url: str, fixture: str | Path) -> int:
    """POST a saved event (a path under events/, or an absolute one) to a served function: its status."""
    delivery = delivery_from_fixture(REPO_ROOT / "events" / fixture)
    request = urllib.request.Request(url, data=delivery.body, headers=delivery.headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_served_function_registers_acks_bad_input_and_logs_one_line_per_event(served):
    url, process = served
    statuses = [
        post(url, "storage/01-finalized-safetensors.structured.json"),
        post(url, "storage/02-finalized-config.binary.json"),
        post(url, "storage/01-finalized-safetensors.structured.json"),
        post(url, "storage/21-malformed-generation.binary.json"),
        post(url, "storage/23-malformed-not-a-cloudevent.binary.json"),
    ]
    process.terminate()
    output = process.communicate(timeout=10)[0].decode()
    outcomes = [json.loads(line) for line in output.splitlines() if line.startswith('{"severity"')]

    # Bad input is acknowledged (2xx, never retried), a body that is not an event at all too (it was a 400,
    # which Pub/Sub and Eventarc redeliver): each logs one line.
    assert statuses == [200, 200, 200, 200, 200]
    assert [(o["outcome"], o["severity"]) for o in outcomes] == [
        ("applied", "INFO"),
        ("applied", "INFO"),
        ("duplicate", "INFO"),
        ("rejected", "WARNING"),
        ("rejected", "WARNING"),
    ]
    assert all({"function", "event_id", "outcome", "detail", "latency_ms"} <= o.keys() for o in outcomes)
    assert outcomes[0]["event_id"] == "9800000000000000"
