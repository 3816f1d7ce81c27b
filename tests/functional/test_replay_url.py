"""`mlops-events replay --url`: saved events sent to functions already served, as their platform would.

CloudEvent and HTTP functions run under the functions-framework CLI in their own process; the Lambda
form is a small Lambda Invoke API server in a thread (the real handler behind it, or a failing one).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tooling.cli.main import cli
from tooling.delivery import lambda_function_in
from tooling.local_lambda import invoke
from tooling.local_server import free_port, start_function, wait_until_listening, write_answer
from tooling.manifest import REPO_ROOT, function_named
from tooling.replay import result_from_answer

EVENTS = REPO_ROOT / "events"
SAFETENSORS = str(EVENTS / "storage/01-finalized-safetensors.structured.json")
NOT_AN_EVENT = str(EVENTS / "storage/23-malformed-not-a-cloudevent.binary.json")
ECR_PUSH = str(EVENTS / "ecr/01-push-inference-1.2.0.json")


def replay(*args: str) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(cli, ["replay", *args], catch_exceptions=False)
    return result.exit_code, [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


@pytest.fixture
def serve(state_dir: Path, tmp_path: Path) -> Iterator[Callable[[str], tuple[str, Path]]]:
    """Serve a function of the manifest on the embedded profile; returns its URL and its log file."""
    processes = []

    def start(name: str) -> tuple[str, Path]:
        spec = function_named(name)
        env = {**os.environ, "MLOPS_EVENTS_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
        log = tmp_path / f"{name}.log"
        process, port = start_function(
            spec.source_path, spec.entry_point, env=env, stdout=log.open("wb"), signature=spec.signature
        )
        processes.append(process)
        wait_until_listening(port, process)
        return f"http://127.0.0.1:{port}/", log

    yield start
    for process in processes:
        process.terminate()
        process.wait(10)


def outcomes_logged(log: Path) -> list[str]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith('{"severity"')]
    return [line["outcome"] for line in lines if "outcome" in line]


def test_a_served_cloudevent_function_takes_the_event_and_registers_it_once(serve):
    # GIVEN register_model served by functions-framework on the embedded profile
    url, log = serve("register_model")
    # WHEN the same saved event is replayed to it twice
    code, lines = replay("--url", url, SAFETENSORS, SAFETENSORS)
    # THEN both are delivered (200), the function applied the first and saw the second as a duplicate
    assert code == 0
    assert [(line["outcome"], line["http_status"], line["url"]) for line in lines] == [("delivered", 200, url)] * 2
    assert lines[0]["function"] == "register_model"
    assert outcomes_logged(log) == ["applied", "duplicate"]
    listing = json.loads(CliRunner().invoke(cli, ["registry", "list", "--json"]).output)
    assert [(m["model"], m["versions"]) for m in listing] == [("fraud-detector", [1])]


def test_a_body_that_is_no_event_is_rejected_by_the_served_function_with_exit_3(serve):
    url, _ = serve("register_model")
    code, lines = replay("--url", url, NOT_AN_EVENT)
    assert code == 3
    assert (lines[0]["outcome"], lines[0]["http_status"]) == ("rejected", 200)
    assert "not a CloudEvent" in lines[0]["detail"]


def test_a_served_http_function_answers_its_own_outcome(serve):
    url, _ = serve("drift_report_http")
    code, lines = replay("--url", url, str(EVENTS / "drift/02-scheduled-run.http.json"))
    assert (code, lines[0]["outcome"], lines[0]["http_status"]) == (0, "applied", 200), lines
    assert "fraud-detector" in lines[0]["detail"]
    code, lines = replay("--url", url, str(EVENTS / "drift/21-malformed-uri.http.json"))
    assert (code, lines[0]["outcome"], lines[0]["http_status"]) == (3, "rejected", 422), lines


def test_nothing_listening_is_an_error_with_exit_4_that_names_the_url(state_dir):
    url = f"http://127.0.0.1:{free_port()}/"
    code, lines = replay("--url", url, SAFETENSORS)
    assert code == 4
    assert (lines[0]["outcome"], lines[0]["http_status"]) == ("error", None)
    assert f"nothing answered at {url}" in lines[0]["detail"] and "refused" in lines[0]["detail"]


def test_a_served_function_that_must_retry_is_exit_4_and_its_traceback_stays_in_its_own_log(
    serve, monkeypatch, state_dir
):
    # GIVEN budget_alert served with a Slack webhook nothing answers at (its adapter raises TransientError)
    monkeypatch.setenv("MLOPS_EVENTS_SLACK_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/services/T0/B0/X")
    url, log = serve("budget_alert")
    # WHEN a notification that alerts is replayed to it
    result = CliRunner().invoke(cli, ["replay", "--url", url, str(EVENTS / "budget/02-actual-50.structured.json")])
    # THEN the function answers 500 (redeliver), the CLI says error with exit 4, and prints no traceback
    [line] = [json.loads(text) for text in result.stdout.splitlines()]
    assert (result.exit_code, line["outcome"], line["http_status"]) == (4, "error", 500), line
    assert result.stderr == ""
    assert outcomes_logged(log) == ["retry"]


Answer = Callable[[Any], tuple[dict[str, str], Any]]


@pytest.fixture
def invoke_api() -> Iterator[Callable[[Answer], tuple[str, list[Any]]]]:
    """A Lambda Invoke API endpoint whose answer to each event is `answer(event)` -> (headers, body)."""
    servers = []

    def start(answer: Answer) -> tuple[str, list[Any]]:
        received: list[Any] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
                headers, body = answer(received[-1][1])
                write_answer(self, 200, json.dumps(body).encode(), {**headers, "Content-Type": "application/json"})

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        port = server.server_address[1]
        return f"http://127.0.0.1:{port}/2015-03-31/functions/ecr_rollout/invocations", received

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def ecr_rollout(event: Any) -> tuple[dict[str, str], Any]:
    """The real handler, its own stdout (powertools' metrics) kept apart as the Lambda runtime keeps it."""
    with contextlib.redirect_stdout(io.StringIO()):
        return {}, invoke(function_named("ecr_rollout"), event)


def test_a_lambda_invoke_endpoint_gets_the_raw_event_and_answers_the_handlers_outcome(state_dir, invoke_api):
    # GIVEN the real ecr_rollout handler behind an Invoke API endpoint
    url, received = invoke_api(ecr_rollout)
    # WHEN a saved push is replayed to it twice
    code, lines = replay("--url", url, ECR_PUSH, ECR_PUSH)
    # THEN the body was the event itself, and the handler's return value is the outcome
    assert received[0] == ("/2015-03-31/functions/ecr_rollout/invocations", json.loads(Path(ECR_PUSH).read_text()))
    assert code == 0
    assert [(line["function"], line["outcome"], line["http_status"]) for line in lines] == [
        ("ecr_rollout", "applied", 200),
        ("ecr_rollout", "duplicate", 200),
    ]
    assert "ml-serving/inference" in lines[0]["detail"]


def test_a_lambda_handler_error_is_an_error_with_exit_4(state_dir, invoke_api):
    failure = {"errorMessage": "cluster unreachable", "errorType": "TransientError", "stackTrace": []}
    url, _ = invoke_api(lambda event: ({"X-Amz-Function-Error": "Unhandled"}, failure))
    code, lines = replay("--url", url, ECR_PUSH)
    assert code == 4
    assert (lines[0]["outcome"], lines[0]["http_status"]) == ("error", 200)
    assert lines[0]["detail"] == "the handler failed: TransientError: cluster unreachable"


@pytest.mark.parametrize(
    ("status", "headers", "body", "outcome", "detail"),
    [
        (200, {}, "OK", "delivered", "HTTP 200; the outcome is in the function's own log"),
        (200, {}, '{"outcome": "ignored", "detail": "not a model"}', "ignored", "not a model"),
        (422, {}, '{"outcome": "rejected", "detail": "body.model: is missing"}', "rejected", "body.model: is missing"),
        (200, {"x-amz-function-error": "Unhandled"}, '{"errorMessage": "boom"}', "error", "failed: Unhandled: boom"),
        (200, {"X-Amz-Function-Error": "Unhandled"}, "not json", "error", "failed: Unhandled: not json"),
        (400, {}, "<p>Got CloudEvent exception: Missing ce-source</p>", "rejected", "event: Missing ce-source</p>"),
        (500, {}, "Internal Server Error", "error", "HTTP 500: Internal Server Error"),
        (404, {}, "Not Found", "error", "HTTP 404: Not Found"),
    ],
)  # fmt: skip
def test_reading_an_answer(status, headers, body, outcome, detail):
    result = result_from_answer("e.json", "f", status, headers, body)
    assert (result.outcome, result.http_status) == (outcome, status)
    assert result.detail.endswith(detail)


@pytest.mark.parametrize(
    ("url", "function"),
    [
        ("http://127.0.0.1:3001/2015-03-31/functions/ecr_rollout/invocations", "ecr_rollout"),
        ("http://localhost:9000/2015-03-31/functions/function/invocations/", "function"),
        ("http://127.0.0.1:8080/", None),
        ("http://127.0.0.1:8080/2015-03-31/functions/x", None),
    ],
)
def test_a_lambda_invoke_url_is_told_from_a_function_url(url, function):
    assert lambda_function_in(url) == function
