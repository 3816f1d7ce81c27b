"""The local Lambda Invoke API (`python -m tooling.localcloud.lambda_endpoint`) as a real process, invoked
with boto3's own Lambda client: what `mlops-events up` and anyone's script see on the local cloud."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config

from tooling.local_server import HOST, free_port
from tooling.manifest import REPO_ROOT

EVENTS = REPO_ROOT / "events"
EXPECTED = yaml.safe_load((EVENTS / "expected.yaml").read_text())
FUNCTION = "ecr_rollout"
# Fixtures whose outcome does not depend on what ran before them (no rollout is recorded).
STATELESS = [
    "ecr/07-push-batch-tag-outside-policy.json",
    "ecr/08-push-failed.json",
    "ecr/09-delete.json",
    "ecr/10-scan-complete.json",
    "ecr/11-push-unknown-repository.json",
    "ecr/20-malformed-digest.json",
    "ecr/21-malformed-no-detail.json",
    "ecr/22-malformed-not-ecr.json",
]


@dataclass
class RunningEndpoint:
    process: subprocess.Popen[bytes]
    url: str
    state_dir: Path
    log_path: Path

    def stop(self, timeout_s: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rollouts(self) -> list[dict]:
        path = self.state_dir / "rollouts.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def _wait_ready(endpoint: RunningEndpoint, timeout_s: float = 30.0) -> None:
    """Readiness as the orchestrator probes it: GetFunction answers 200 once the handler is imported."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if endpoint.process.poll() is not None:
            raise RuntimeError(f"the endpoint exited with {endpoint.process.returncode}:\n{endpoint.log}")
        try:
            with urllib.request.urlopen(f"{endpoint.url}/2015-03-31/functions/{FUNCTION}", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the endpoint was not ready within {timeout_s} s:\n{endpoint.log}")


@pytest.fixture(scope="module")
def start_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningEndpoint]]:
    """Start the endpoint on the embedded profile (no kubeconfig: a dry-run cluster); stopped at the end."""
    started: list[RunningEndpoint] = []

    def start(targets_file: Path = EVENTS / "ecr" / "targets.yaml") -> RunningEndpoint:
        home = tmp_path_factory.mktemp("lambda-endpoint")
        env = {k: v for k, v in os.environ.items() if k not in {"KUBECONFIG", "AWS_ENDPOINT_URL"}}
        env.update(
            MLOPS_EVENTS_PROFILE="embedded",
            MLOPS_EVENTS_STATE_DIR=str(home / "state"),
            MLOPS_EVENTS_ROLLOUT_TARGETS_FILE=str(targets_file),
        )
        for variable in ("MLOPS_EVENTS_KUBECONFIG", "MLOPS_EVENTS_KUBECONFIG_SECRET", "MLOPS_EVENTS_SLACK_WEBHOOK_URL"):
            env.pop(variable, None)
        port = free_port()
        log_path = home / "ecr_rollout.log"
        with log_path.open("wb") as log:
            command = [sys.executable, "-m", "tooling.localcloud.lambda_endpoint", "--function", FUNCTION]
            process = subprocess.Popen(
                [*command, "--port", str(port)], env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        endpoint = RunningEndpoint(process, f"http://{HOST}:{port}", home / "state", log_path)
        started.append(endpoint)
        _wait_ready(endpoint)
        return endpoint

    yield start
    for endpoint in started:
        if endpoint.process.poll() is None:
            endpoint.process.kill()
            endpoint.process.wait()


@pytest.fixture(scope="module")
def endpoint(start_endpoint: Callable[..., RunningEndpoint]) -> RunningEndpoint:
    return start_endpoint()


def lambda_client(endpoint: RunningEndpoint):
    return boto3.client(
        "lambda",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, read_timeout=60),
    )


def invoke(endpoint: RunningEndpoint, fixture: str, **kwargs) -> dict:
    response = lambda_client(endpoint).invoke(
        FunctionName=kwargs.pop("FunctionName", FUNCTION), Payload=(EVENTS / fixture).read_bytes(), **kwargs
    )
    response["body"] = response["Payload"].read()
    return response


def digest_of(fixture: str) -> str:
    return json.loads((EVENTS / fixture).read_text())["detail"]["image-digest"]


def test_a_push_is_applied_once_then_a_duplicate(endpoint):
    # GIVEN a push of ml/inference:1.2.0, which two targets follow
    fixture = "ecr/01-push-inference-1.2.0.json"

    # WHEN boto3 invokes the function with it, twice (EventBridge delivers at least once)
    first = invoke(endpoint, fixture)
    second = invoke(endpoint, fixture)

    # THEN the first plans both rollouts and the second changes nothing
    assert first["StatusCode"] == 200 and "FunctionError" not in first
    assert first["ExecutedVersion"] == "$LATEST"
    assert first["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert json.loads(first["body"])["outcome"] == "applied"
    assert EXPECTED[fixture]["detail"] in json.loads(first["body"])["detail"]
    assert json.loads(second["body"])["outcome"] == "duplicate"
    planned = [r for r in endpoint.rollouts() if r["new_image"].endswith(digest_of(fixture))]
    assert sorted(r["target"] for r in planned) == ["ml-serving/inference:server", "ml-staging/inference:server"]


@pytest.mark.parametrize("fixture", STATELESS, ids=lambda f: Path(f).name)
def test_each_saved_event_gets_its_expected_outcome(endpoint, fixture):
    response = invoke(endpoint, fixture)

    # A rejected or ignored event is a successful invocation: Lambda must not retry bad input.
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    result = json.loads(response["body"])
    assert result["outcome"] == EXPECTED[fixture]["outcome"]
    assert EXPECTED[fixture]["detail"] in result["detail"]


def test_the_handlers_logs_reach_stdout_as_they_happen(endpoint):
    invoke(endpoint, "ecr/22-malformed-not-ecr.json")

    # The process is still running: the lines are there because stdout is flushed per line.
    lines = [json.loads(line) for line in endpoint.log.splitlines() if line.startswith("{")]
    outcomes = [line for line in lines if line.get("function") == FUNCTION and line.get("outcome") == "rejected"]
    assert outcomes and endpoint.process.poll() is None
    assert "START RequestId:" in endpoint.log and "REPORT RequestId:" in endpoint.log


def test_an_event_invocation_is_accepted_at_once_and_runs_in_the_background(endpoint):
    fixture = "ecr/06-push-batch-main.json"

    response = invoke(endpoint, fixture, InvocationType="Event")

    assert response["StatusCode"] == 202 and response["body"] == b""
    deadline = time.monotonic() + 15
    while not any(r["new_image"].endswith(digest_of(fixture)) for r in endpoint.rollouts()):
        assert time.monotonic() < deadline, f"no rollout for {fixture} after 15 s:\n{endpoint.log}"
        time.sleep(0.05)
    assert [r["target"] for r in endpoint.rollouts() if r["new_tag"] == "main-3f9c2ab"] == [
        "ml-batch/batch-predict:scorer"
    ]


def test_a_dry_run_validates_and_runs_nothing(endpoint):
    fixture = "ecr/05-push-inference-1.2.1-delayed.json"

    response = invoke(endpoint, fixture, InvocationType="DryRun")

    assert response["StatusCode"] == 204 and response["body"] == b""
    time.sleep(0.2)
    assert not any(r["new_image"].endswith(digest_of(fixture)) for r in endpoint.rollouts())


def test_an_unknown_function_is_resource_not_found(endpoint):
    client = lambda_client(endpoint)

    with pytest.raises(client.exceptions.ResourceNotFoundException, match="Function not found: arn:aws:lambda"):
        client.invoke(FunctionName="no_such_function", Payload=b"{}")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName=FUNCTION, Qualifier="7", Payload=b"{}")


def test_a_full_arn_names_the_function(endpoint):
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{FUNCTION}:$LATEST"

    response = invoke(endpoint, "ecr/08-push-failed.json", FunctionName=arn)

    assert json.loads(response["body"])["outcome"] == "ignored"


def test_a_body_that_is_not_json_is_invalid_request_content(endpoint):
    client = lambda_client(endpoint)

    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName=FUNCTION, Payload=b"{not json")


def test_get_function_describes_the_manifests_configuration(endpoint):
    configuration = lambda_client(endpoint).get_function(FunctionName=FUNCTION)["Configuration"]

    assert configuration["FunctionName"] == FUNCTION
    assert (configuration["Runtime"], configuration["Handler"]) == ("python3.11", "ecr_rollout.handler")
    assert (configuration["Timeout"], configuration["MemorySize"]) == (600, 512)


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", f"/2015-03-31/functions/{FUNCTION}/invocations", 405),
    ("PUT", f"/2015-03-31/functions/{FUNCTION}", 405),
    ("POST", "/2015-03-31/functions", 404),
    ("GET", "/", 404),
])  # fmt: skip
def test_a_wrong_method_or_path_is_refused(endpoint, method, path, status):
    request = urllib.request.Request(f"{endpoint.url}{path}", data=b"{}" if method != "GET" else None, method=method)

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)

    assert refused.value.code == status
    assert refused.value.headers["x-amzn-ErrorType"]


def test_a_handler_exception_is_an_unhandled_function_error_and_sigterm_stops_it(start_endpoint, tmp_path):
    # GIVEN an endpoint whose rollout targets file is not YAML: a ConfigError, which no retry of the
    # event fixes but a fixed file does, so the handler raises instead of rejecting the event
    broken = tmp_path / "targets.yaml"
    broken.write_text("targets: [unclosed\n")
    endpoint = start_endpoint(broken)

    # WHEN a push is invoked
    response = invoke(endpoint, "ecr/01-push-inference-1.2.0.json")

    # THEN the invocation still answers 200, flagged as failed with the runtime's error shape
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["body"])
    assert error["errorType"] == "ConfigError"
    assert "not YAML" in error["errorMessage"]
    assert error["stackTrace"] and all(isinstance(frame, str) for frame in error["stackTrace"])
    assert "[ERROR] ConfigError" in endpoint.log

    # AND SIGTERM stops the process cleanly
    assert endpoint.stop() == 0
    assert "stopped" in endpoint.log
