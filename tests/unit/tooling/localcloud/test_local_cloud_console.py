"""up's console without a terminal (a pipe, a file, CI): the services table keeps every URL and path whole."""

from __future__ import annotations

from tooling.localcloud.console import LiveConsole

LONG_URL = "http://127.0.0.1:45679/2015-03-31/functions/ecr_rollout/invocations"
LONG_LOG = "/home/someone/projects/mlops-events/.mlops-events/logs/" + "a-long-folder-name/" * 3 + "ecr_rollout.log"


def _state() -> dict:
    return {
        "emulators": {"pubsub": {"url": "http://127.0.0.1:45678", "log": LONG_LOG}},
        "functions": {"ecr_rollout": {"url": LONG_URL, "log": LONG_LOG}},
        "slack_webhook_url": "http://127.0.0.1:45680/services/T/B/x",
        "control_url": "http://127.0.0.1:45681",
        "lambda_runtime": "ecr_rollout under awslambdaric, with the manifest's timeout and memory",
        "resources": {"buckets": ["ml-models-dev"], "topics": ["drift-report"]},
    }


def test_without_a_tty_the_services_table_cuts_no_url(capsys):
    # GIVEN stdout is not a terminal (pytest captures it) WHEN up shows its services
    LiveConsole().show_services(_state())

    # THEN each URL and log path is whole on one line, wider than 80 columns
    lines = capsys.readouterr().out.splitlines()
    assert any(LONG_URL in line and LONG_LOG in line for line in lines)
    assert "lambda: ecr_rollout under awslambdaric, with the manifest's timeout and memory" in lines
