"""The exit codes of the commands that report event outcomes, one class each, and a quiet stderr without -v.

0 applied, duplicate, ignored (delivered with --url); 3 rejected; 4 retry or error; 2 click's usage error.
Several events: the worst outcome's code. The retry is a real TransientError: budget_alert's Slack webhook
points at a loopback port nothing listens on.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from shared.log import LOGGER_NAME
from tooling.cli.main import cli, exit_code
from tooling.local_server import free_port
from tooling.manifest import REPO_ROOT

EVENTS = REPO_ROOT / "events"
SAFETENSORS = str(EVENTS / "storage/01-finalized-safetensors.structured.json")
MALFORMED = str(EVENTS / "storage/21-malformed-generation.binary.json")
ROUTINE_BUDGET = str(EVENTS / "budget/01-routine-no-threshold.structured.json")
BUDGET_50 = str(EVENTS / "budget/02-actual-50.structured.json")


def replay(*args: str) -> tuple[int, list[str], str]:
    """Exit code, outcomes printed on stdout, and what reached stderr."""
    root_handlers = list(logging.getLogger().handlers)
    result = CliRunner().invoke(cli, ["replay", *args], catch_exceptions=False)
    logging.getLogger(LOGGER_NAME).handlers.clear()  # with -v bound to the runner's stderr, closed now
    assert logging.getLogger().handlers == root_handlers, "the library log route outlived the command"
    outcomes = [json.loads(line)["outcome"] for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, outcomes, result.stderr


@pytest.fixture
def slack_down(monkeypatch: pytest.MonkeyPatch) -> str:
    """A webhook nothing answers at: the Slack adapter raises TransientError, the outcome is `retry`."""
    url = f"http://127.0.0.1:{free_port()}/services/T000/B000/XXXX"
    monkeypatch.setenv("MLOPS_EVENTS_SLACK_WEBHOOK_URL", url)
    return url


@pytest.mark.parametrize(
    ("files", "outcomes", "code"),
    [
        ([SAFETENSORS], ["applied"], 0),
        ([SAFETENSORS, SAFETENSORS], ["applied", "duplicate"], 0),
        ([ROUTINE_BUDGET], ["ignored"], 0),
        ([MALFORMED], ["rejected"], 3),
        ([SAFETENSORS, MALFORMED, ROUTINE_BUDGET], ["applied", "rejected", "ignored"], 3),
        (["no-such-file.json"], ["error"], 4),
        ([MALFORMED, "no-such-file.json", SAFETENSORS], ["rejected", "error", "applied"], 4),
    ],
    ids=["applied", "duplicate", "ignored", "rejected", "worst-is-rejected", "error", "worst-is-error"],
)
def test_each_outcome_class_has_its_exit_code_and_stderr_stays_quiet(state_dir, files, outcomes, code):
    assert replay(*files) == (code, outcomes, "")


def test_a_retry_is_exit_4_and_what_the_library_logged_goes_to_the_log_file(state_dir, slack_down):
    # GIVEN Slack unreachable WHEN a notification that alerts is replayed with events that are fine or bad
    code, outcomes, stderr = replay(ROUTINE_BUDGET, MALFORMED, BUDGET_50)
    # THEN the worst outcome (retry: nothing was processed) decides, and stderr shows nothing of the function
    assert (code, outcomes, stderr) == (4, ["ignored", "rejected", "retry"], "")
    logged = [json.loads(line) for line in (state_dir / "logs" / "functions.jsonl").read_text().splitlines()]
    assert [line["outcome"] for line in logged if "outcome" in line][-1] == "retry"
    assert any("Failed to send a request to Slack" in line["message"] for line in logged), "slack_sdk's line"
    assert not any(slack_down in json.dumps(line) for line in logged)


def test_with_verbose_the_functions_lines_reach_stderr(state_dir, slack_down):
    code, outcomes, stderr = replay("-v", BUDGET_50)
    assert (code, outcomes) == (4, ["retry"])
    assert '"outcome": "retry"' in stderr and "Failed to send a request to Slack" in stderr
    assert slack_down not in stderr


def test_a_retry_in_a_fresh_process_prints_no_traceback(state_dir, slack_down, tmp_path):
    # The real streams, as a shell sees them: nothing swapped by a test runner.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tooling.cli.main", "replay", BUDGET_50, SAFETENSORS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4, done.stderr
    assert [json.loads(line)["outcome"] for line in done.stdout.splitlines()] == ["retry", "applied"]
    assert done.stderr == ""


def test_nothing_listening_at_the_url_is_exit_4_without_a_traceback(state_dir):
    code, outcomes, stderr = replay("--url", f"http://127.0.0.1:{free_port()}/", SAFETENSORS)
    assert (code, outcomes, stderr) == (4, ["error"], "")


@pytest.mark.parametrize(
    "args",
    [[], ["--timeout", "0", SAFETENSORS], ["--url", "localhost:8080", SAFETENSORS], ["--no-such-option", SAFETENSORS]],
    ids=["no-files", "zero-timeout", "url-without-scheme", "unknown-option"],
)
def test_a_usage_error_keeps_clicks_exit_2(args):
    result = CliRunner().invoke(cli, ["replay", *args])
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("outcomes", "code"),
    [
        ([], 0),
        (["applied", "duplicate", "ignored", "delivered"], 0),
        (["applied", "rejected"], 3),
        (["retry"], 4),
        (["error", "rejected"], 4),
        (["rejected", "retry", "applied"], 4),
        (["something-new"], 4),  # a served function's unknown word: not known to be processed
    ],
)
def test_the_worst_outcome_decides(outcomes, code):
    assert exit_code(outcomes) == code


def test_the_readme_documents_the_codes():
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## CLI") : readme.index("## Configuration")]
    for row in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |"):
        assert row in section, row
