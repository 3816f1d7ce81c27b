"""`mlops-events dead-letters` where it cannot work: one line naming the fix, the right exit code, nothing
read or sent. (Against the emulators: tests/integration/tooling/localcloud/test_dead_letters_on_up.py.)"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tooling.cli.main import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["dead-letters", *args])
    return result.exit_code, result.output


def test_list_without_a_running_up_says_how_to_start_one_or_read_the_cloud(tmp_path):
    code, output = run("list", "--state-dir", str(tmp_path))
    assert code == 1
    assert "no local cloud runs from" in output and "--cloud" in output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output


def test_a_function_without_dead_letters_is_one_line_before_anything_is_read(tmp_path):
    code, output = run("list", "--function", "register_model", "--state-dir", str(tmp_path))
    assert code == 1
    assert "register_model has no dead-letter hold" in output and "budget_alert" in output


@pytest.mark.parametrize(
    "args",
    [
        ["redrive"],  # neither --message nor --all
        ["redrive", "--all", "--message", "7"],
        ["list", "--project", "p"],  # --project is for --cloud
    ],
)
def test_usage_errors_exit_2(tmp_path, args):
    code, output = run(*args, "--state-dir", str(tmp_path))
    assert code == 2, output


def test_the_cloud_is_not_reached_through_an_emulator_variable(monkeypatch):
    # GIVEN a shell that sourced up.env WHEN --cloud is asked for THEN refused, naming the variable
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")
    code, output = run("list", "--cloud", "--project", "p")
    assert code == 1
    assert "PUBSUB_EMULATOR_HOST is set" in output
