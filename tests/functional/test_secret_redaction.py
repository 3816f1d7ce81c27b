"""Issue 15, "a secret in the logs": a webhook URL pasted with a line break, a tab, a NUL, an encoded %0A or
a non-ASCII character made http.client raise an error quoting the path, and the token went to the outcome
detail, stdout, stderr and the log, again on every redelivery.

Each such URL is configured for the real budget_alert function, an event is delivered through the real
functions-framework app (and through the CLI, and a served process), and every output is searched for the
secret in each of its shapes: raw, percent-encoded, repr-escaped, JSON-escaped, and its path's parts.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from functions_framework import create_app

from shared.log import LOGGER_NAME, configure_logging
from tests.functional.test_served_function import post
from tooling.cli.main import cli
from tooling.delivery import delivery_from_fixture
from tooling.local_server import start_function, wait_until_listening
from tooling.localcloud.slack_receiver import SlackReceiver
from tooling.manifest import REPO_ROOT, function_named

FIXTURE = REPO_ROOT / "events" / "budget" / "02-actual-50.structured.json"
TEAM, HOOK, TOKEN = "T0AB12CD3", "B0EF45GH6", "Xy7wQ2mN8pL4kR1sT6vB9zC3"
BASE = f"https://hooks.slack.com/services/{TEAM}/{HOOK}/"

ODD_URLS = {
    "inner tab": (BASE + TOKEN[:12] + "\t" + TOKEN[12:], "contains whitespace: a tab"),
    "inner newline": (BASE + TOKEN[:12] + "\n" + TOKEN[12:], "contains whitespace: a line break"),
    "inner CRLF": (BASE + TOKEN[:12] + "\r\n" + TOKEN[12:], "contains whitespace: a line break"),
    "inner space": (BASE + TOKEN[:12] + " " + TOKEN[12:], "contains whitespace: a space"),
    "inner NUL": (BASE + TOKEN[:12] + "\x00" + TOKEN[12:], "contains a control character (NUL)"),
    "trailing %0A": (BASE + TOKEN + "%0A", "contains a percent-encoded control character or space (%0A)"),
    "unicode letter": (BASE + TOKEN[:12] + "é" + TOKEN[12:], "contains non-ASCII characters"),
    "unicode line separator": (BASE + TOKEN[:12] + "\u2028" + TOKEN[12:], "contains whitespace: a line break"),
}


def shapes_of(url: str) -> list[str]:
    """The secret as it may show: whole, its path, its tail after /services/, its token's parts, each raw,
    repr-escaped, JSON-escaped (and a repr inside JSON), percent-encoded."""
    path = url.split("hooks.slack.com", 1)[1]
    token = path.rsplit("/", 1)[1]
    parts = [url, path, path.split("/services/", 1)[1], token, TEAM, HOOK]
    parts += [p for p in (TOKEN[:12], TOKEN[12:], TOKEN) if p in url]
    forms: list[str] = []
    for part in parts:
        forms += [part, repr(part)[1:-1], ascii(part)[1:-1], json.dumps(part)[1:-1]]
        forms += [json.dumps(repr(part)[1:-1])[1:-1], quote(part), quote(part, safe="")]
    return sorted(set(forms), key=len, reverse=True)


def assert_nowhere(url: str, **outputs: str) -> None:
    for where, text in outputs.items():
        for form in shapes_of(url):
            assert form not in text, f"{form!r} leaked into {where}: {text[:500]!r}"


class _CurrentStdout:
    """Whatever sys.stdout is when a line is written: pytest swaps it between the fixture and the test."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def outputs(state_dir, caplog, capsys):
    """Every place a line can go: our JSON handler (on this test's stdout), a plain handler on the root
    logger, caplog, and what is written to stdout and stderr."""
    caplog.set_level(logging.DEBUG)
    root_stream = io.StringIO()
    root_handler = logging.StreamHandler(root_stream)
    root_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(root_handler)
    configure_logging(_CurrentStdout(), force=True)  # as a function writes: to stdout, captured here

    def read() -> dict[str, str]:
        captured = capsys.readouterr()
        records = "\n".join(
            f"{r.getMessage()} {r.exc_text or ''} {json.dumps(getattr(r, 'fields', {}))}" for r in caplog.records
        )
        return {
            "stdout": captured.out,
            "stderr": captured.err,
            "root handler": root_stream.getvalue(),
            "caplog": caplog.text + records,
        }

    yield read
    logging.getLogger().removeHandler(root_handler)
    logging.getLogger(LOGGER_NAME).handlers.clear()  # the next run_event installs one on its own stdout


def deliver(client) -> int:
    delivery = delivery_from_fixture(FIXTURE)
    return client.post("/", headers=delivery.headers, data=delivery.body).status_code


def outcome_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"severity"')]


@contextlib.contextmanager
def configured(source: str, url: str, monkeypatch) -> Iterator[None]:
    """The webhook URL in the environment, or in Secrets Manager (moto, in process): an environment
    variable cannot hold a NUL, a secret's value can."""
    if source == "env":
        monkeypatch.setenv("MLOPS_EVENTS_SLACK_WEBHOOK_URL", url)
        yield
        return
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        import boto3

        logging.disable(logging.INFO)  # the seeding is the operator's, not the function's: not captured
        try:
            boto3.client("secretsmanager").create_secret(Name="slack-webhook", SecretString=url)
        finally:
            logging.disable(logging.NOTSET)
        monkeypatch.setenv("MLOPS_EVENTS_SLACK_WEBHOOK_AWS_SECRET", "slack-webhook")
        yield


CASES = [
    (case, source)
    for case in ODD_URLS
    for source in ("env", "secrets-manager")
    if (case, source) != ("inner NUL", "env")
]


@pytest.mark.parametrize(("case", "source"), CASES, ids=lambda c: c.replace(" ", "-"))
def test_an_odd_webhook_url_is_a_clear_error_and_shows_nowhere(case, source, outputs, monkeypatch):
    # GIVEN budget_alert with a webhook URL that has an odd character in its token
    url, why = ODD_URLS[case]
    spec = function_named("budget_alert")
    client = create_app(spec.entry_point, str(spec.source_path), "cloudevent").test_client()

    # WHEN a budget notification crossing 50% is delivered, and redelivered
    with configured(source, url, monkeypatch):
        statuses = [deliver(client), deliver(client)]

    # THEN each delivery fails for redelivery (not acknowledged: the alert is not lost) ...
    assert statuses == [500, 500]
    seen = outputs()
    lines = outcome_lines(seen["stdout"])
    # ... with one outcome line each, classified as a configuration error that says what is wrong
    assert [line["outcome"] for line in lines] == ["error", "error"]
    for line in lines:
        assert line["detail"] == f"configuration: the Slack webhook URL is not a valid URL ({why})"
    # AND the secret, in any shape, is in no output
    assert_nowhere(url, **seen)


def test_once_the_url_is_fixed_the_redelivery_posts(outputs, monkeypatch):
    # GIVEN a delivery that failed on a URL pasted with a line break
    with SlackReceiver() as slack:
        monkeypatch.setenv("MLOPS_EVENTS_SLACK_WEBHOOK_URL", slack.url[:-6] + "\n" + slack.url[-6:])
        spec = function_named("budget_alert")
        client = create_app(spec.entry_point, str(spec.source_path), "cloudevent").test_client()
        assert deliver(client) == 500
        # WHEN the URL is fixed and the event is redelivered
        monkeypatch.setenv("MLOPS_EVENTS_SLACK_WEBHOOK_URL", slack.url)
        assert deliver(client) == 200
        # THEN Slack got the alert once, and the outcome says applied
        assert len(slack.posts) == 1
        assert [line["outcome"] for line in outcome_lines(outputs()["stdout"])] == ["error", "applied"]


def test_a_slack_error_quoting_the_url_is_a_clean_retry(outputs, monkeypatch):
    # GIVEN a webhook whose server fails with the URL's path in its answer (a proxy's error page)
    with SlackReceiver() as slack:
        slack.fail_next(100, status=503, body=f"upstream failed for {slack.path} ({slack.url!r})")
        monkeypatch.setenv("MLOPS_EVENTS_SLACK_WEBHOOK_URL", slack.url)
        spec = function_named("budget_alert")
        client = create_app(spec.entry_point, str(spec.source_path), "cloudevent").test_client()
        # WHEN the notification is delivered
        status = deliver(client)
        seen = outputs()
    # THEN it is a retry (Slack is down), named as such, with the secret nowhere
    assert status == 500
    [line] = outcome_lines(seen["stdout"])
    assert line["outcome"] == "retry" and line["detail"].startswith("Slack webhook failed: HTTP 503")
    for text in seen.values():
        assert slack.token not in text and slack.path not in text and slack.url not in text


def test_the_cli_prints_no_shape_of_the_secret(state_dir, monkeypatch):
    # GIVEN the webhook URL pasted with a tab, and the CLI replaying a budget notification with -v
    url, _ = ODD_URLS["inner tab"]
    monkeypatch.setenv("MLOPS_EVENTS_SLACK_WEBHOOK_URL", url)
    # WHEN it runs (the function's log lines go to stderr, its outcome to stdout)
    result = CliRunner().invoke(cli, ["replay", "-v", str(FIXTURE)])
    logging.getLogger(LOGGER_NAME).handlers.clear()  # bound to the runner's stderr, closed now
    # THEN the outcome is reported as an error that says what is wrong, and nothing shows the secret
    [reported] = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert reported["outcome"] == "error" and "contains whitespace: a tab" in reported["detail"]
    assert_nowhere(url, stdout=result.stdout, stderr=result.stderr)


def test_whatever_the_cli_prints_goes_through_the_redaction():
    # GIVEN a secret the process loaded (here a token)
    from shared.secret_values import remember_secret

    remember_secret(TOKEN)
    # WHEN a command prints it (an event generated for an object whose name carries it)
    result = CliRunner().invoke(
        cli, ["generate-event", "gcs-finalize", "--bucket", "ml-models-dev", "--name", f"fraud/{TOKEN}/m.pt"]
    )
    # THEN stdout shows it redacted, and the rest of the output as it was
    assert result.exit_code == 0
    assert TOKEN not in result.stdout
    assert json.loads(result.stdout)["data"]["name"] == "fraud/[redacted]/m.pt"


def test_a_served_function_writes_no_shape_of_the_secret(state_dir, tmp_path):
    # GIVEN budget_alert served by the functions-framework CLI, as Cloud Run serves it, with a URL pasted
    # with a line break in its token (its stdout and stderr both captured)
    url, _ = ODD_URLS["inner newline"]
    spec = function_named("budget_alert")
    env = {**os.environ, "MLOPS_EVENTS_STATE_DIR": str(state_dir), "MLOPS_EVENTS_SLACK_WEBHOOK_URL": url}
    process, port = start_function(spec.source_path, spec.entry_point, env=env, stdout=subprocess.PIPE)
    try:
        wait_until_listening(port, process)
        # WHEN the notification is delivered twice
        statuses = [post(f"http://127.0.0.1:{port}/", FIXTURE) for _ in range(2)]
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode("utf-8", "replace")
    # THEN both failed for redelivery, with a clear outcome, and the process wrote no shape of the secret
    assert statuses == [500, 500]
    assert [line["outcome"] for line in outcome_lines(output)] == ["error", "error"]
    assert "contains whitespace: a line break" in output
    assert_nowhere(url, output=output)
