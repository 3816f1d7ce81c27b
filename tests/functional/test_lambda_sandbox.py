"""The Lambda of `up` under awslambdaric, held to its manifest's timeout and memory: the local Invoke API
(`python -m tooling.localcloud.lambda_endpoint`) serving a probe handler that sleeps, allocates, exits or
raises on request, invoked with boto3's Lambda client as `up`'s EventBridge bridge and anyone's script do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config

from tooling.local_server import HOST, free_port
from tooling.localcloud.lambda_sandbox import runtime_available
from tooling.manifest import REPO_ROOT

pytestmark = pytest.mark.skipif(not runtime_available(), reason="awslambdaric is not installed (the local extra)")

FUNCTION = "sandbox_probe"
TIMEOUT_S = 2
MEMORY_MB = 128


@dataclass
class Endpoint:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def invoke(self, event: dict, **kwargs) -> tuple[dict, dict]:
        client = boto3.client(
            "lambda",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}, read_timeout=60),
        )
        response = client.invoke(FunctionName=FUNCTION, Payload=json.dumps(event).encode(), **kwargs)
        return response, json.loads(response["Payload"].read() or b"null")


def _start(tmp: Path, *extra: str) -> Endpoint:
    manifest = tmp / "manifest.yaml"
    entry = {
        "name": FUNCTION,
        "platform": "aws-lambda",
        "runtime": "python3.11",
        "source": "tests/support/lambdas/sandbox_probe.py",
        "entry_point": "handler",
        "signature": "lambda",
        "trigger": {"kind": "eventbridge", "pattern": {"source": ["local.test"]}},
        "timeout_s": TIMEOUT_S,
        "memory": f"{MEMORY_MB}Mi",
    }
    manifest.write_text(yaml.safe_dump({"functions": [entry]}))
    port = free_port()
    log_path = tmp / f"{FUNCTION}.log"
    command = [sys.executable, "-m", "tooling.localcloud.lambda_endpoint", "--function", FUNCTION]
    command += ["--port", str(port), "--manifest", str(manifest), *extra]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = Endpoint(process, f"http://{HOST}:{port}", log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the endpoint exited with {process.returncode}:\n{endpoint.log}"
        try:
            with urllib.request.urlopen(f"{endpoint.url}/2015-03-31/functions/{FUNCTION}", timeout=1):
                return endpoint
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise AssertionError(f"the endpoint was not ready within 60 s:\n{endpoint.log}")


def _stop(endpoint: Endpoint) -> None:
    if endpoint.process.poll() is None:
        endpoint.process.send_signal(signal.SIGTERM)
        try:
            endpoint.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(endpoint.process.pid, signal.SIGKILL)
            endpoint.process.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    running = _start(tmp_path_factory.mktemp("sandbox"))
    yield running
    _stop(running)


def test_the_handler_runs_in_a_runtime_process_with_the_manifests_limits(endpoint):
    response, answer = endpoint.invoke({"echo": "hi"})

    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert answer["echo"] == "hi"
    assert answer["pid"] != endpoint.process.pid  # not the endpoint's own process
    assert 0 < answer["remaining_ms"] <= TIMEOUT_S * 1000  # the context counts down from the manifest's timeout
    first_line = endpoint.log.splitlines()[0]
    assert "under awslambdaric" in first_line and f"timeout {TIMEOUT_S} s, memory {MEMORY_MB} MB" in first_line
    assert f"Memory Size: {MEMORY_MB} MB\tMax Memory Used: " in endpoint.log


def test_a_handler_past_its_timeout_is_killed_reported_and_replaced(endpoint):
    # GIVEN a warm environment
    before = endpoint.invoke({})[1]["pid"]

    # WHEN an invocation sleeps well past the function's timeout
    started = time.monotonic()
    response, answer = endpoint.invoke({"sleep_s": 30})
    took = time.monotonic() - started

    # THEN it fails as Lambda's does, once the timeout is over, not when the handler would have returned
    assert response["FunctionError"] == "Unhandled"
    assert answer["errorType"] == "Sandbox.Timedout"
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert answer["errorMessage"] == f"RequestId: {request_id} Error: Task timed out after {TIMEOUT_S:.2f} seconds"
    assert TIMEOUT_S <= took < TIMEOUT_S + 5
    # AND the log says so in Lambda's words
    assert f"{request_id} Task timed out after {TIMEOUT_S:.2f} seconds" in endpoint.log
    assert f"REPORT RequestId: {request_id}" in endpoint.log and "Status: timeout" in endpoint.log
    # AND the runtime that ran it is gone; the next invocation gets a new environment (a cold start)
    assert not _alive(before)
    response, answer = endpoint.invoke({"echo": "again"})
    assert "FunctionError" not in response and answer["echo"] == "again" and answer["pid"] != before
    assert "Init Duration:" in endpoint.log.split(f"REPORT RequestId: {request_id}")[1]


def test_a_handler_past_its_memory_is_killed_as_out_of_memory(endpoint):
    before = endpoint.invoke({})[1]["pid"]

    response, answer = endpoint.invoke({"allocate_mb": MEMORY_MB * 2})

    assert response["FunctionError"] == "Unhandled"
    assert answer["errorType"] == "Runtime.OutOfMemory"
    assert answer["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert "Error Type: Runtime.OutOfMemory" in endpoint.log
    assert not _alive(before)
    assert endpoint.invoke({})[1]["pid"] != before
    # well under the limit, the same environment keeps serving
    small = endpoint.invoke({"allocate_mb": 8})
    assert "FunctionError" not in small[0]


def test_a_runtime_that_exits_mid_invocation_is_an_exit_error_then_a_new_environment(endpoint):
    before = endpoint.invoke({})[1]["pid"]

    response, answer = endpoint.invoke({"exit": 3})

    assert response["FunctionError"] == "Unhandled"
    assert answer["errorType"] == "Runtime.ExitError"
    assert answer["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    assert endpoint.invoke({})[1]["pid"] != before


def test_a_handler_exception_keeps_the_environment(endpoint):
    before = endpoint.invoke({})[1]["pid"]

    response, answer = endpoint.invoke({"raise": "bad input"})

    # awslambdaric's own error shape, as Lambda's Python runtime answers
    assert response["FunctionError"] == "Unhandled"
    assert (answer["errorType"], answer["errorMessage"]) == ("ValueError", "bad input")
    assert answer["stackTrace"]
    assert endpoint.invoke({})[1]["pid"] == before


def test_an_event_invocation_past_its_timeout_does_not_block_the_next(endpoint):
    response, _ = endpoint.invoke({"sleep_s": 30}, InvocationType="Event")
    assert response["StatusCode"] == 202

    started = time.monotonic()
    response, answer = endpoint.invoke({"echo": "after"})

    # queued behind the one running (one invocation per environment), which the timeout ends
    assert answer["echo"] == "after" and time.monotonic() - started < TIMEOUT_S + 5


def test_sigterm_stops_the_endpoint_and_its_runtime(tmp_path):
    running = _start(tmp_path)
    pid = running.invoke({})[1]["pid"]

    running.process.send_signal(signal.SIGTERM)

    assert running.process.wait(timeout=15) == 0
    assert not _alive(pid)


def test_in_process_says_it_enforces_no_limit(tmp_path):
    running = _start(tmp_path, "--in-process")
    try:
        _, answer = running.invoke({"echo": "here"})

        assert answer["pid"] == running.process.pid
        assert "in this process, without its timeout or memory limit" in running.log.splitlines()[0]
    finally:
        _stop(running)


def test_up_delivers_a_timed_out_invocation_as_an_error_naming_the_timeout(endpoint):
    # GIVEN the target `up`'s EventBridge bridge sends the Lambda's events to (dispatch.Target)
    from tooling.localcloud.dispatch import Target
    from tooling.localcloud.lambda_endpoint import invoke_path
    from tooling.localcloud.outcome_log import OutcomeLog
    from tooling.localcloud.triggers import Request

    target = Target(
        FUNCTION, endpoint.url + invoke_path(FUNCTION), OutcomeLog(endpoint.log_path), timeout_s=TIMEOUT_S + 5
    )
    headers = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"}
    request = Request("", headers, json.dumps({"sleep_s": 30}).encode(), "ev-1", "ECR Image Action", "slow")

    # WHEN an event runs past the timeout
    result = target.send(request)

    # THEN the console's line is a failure naming Lambda's timeout, which Lambda's retries and destination act on
    assert not result.ok and result.outcome == "error"
    assert result.detail.startswith("Sandbox.Timedout: RequestId: ")
    assert result.detail.endswith(f"Task timed out after {TIMEOUT_S:.2f} seconds")
    assert result.error_payload and result.error_payload["errorType"] == "Sandbox.Timedout"
