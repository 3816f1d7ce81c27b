"""`mlops-events registry alias set|list` and the aliases in `registry show --json`, on the embedded profile."""

from __future__ import annotations

import getpass
import json

import pytest
from click.testing import CliRunner

from tooling.cli.main import cli
from tooling.manifest import REPO_ROOT

STORAGE = REPO_ROOT / "events" / "storage"
V3 = str(STORAGE / "05-finalized-onnx-v3.structured.json")  # churn-model v3 in dev
V2 = str(STORAGE / "06-finalized-onnx-v2-late.structured.json")  # churn-model v2 in dev


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
def churn(state_dir):
    """churn-model v2 and v3 registered in dev."""
    code, output = invoke("replay", V3, V2)
    assert code == 0, output


def history() -> list[tuple[int | None, int, str]]:
    code, output = invoke("registry", "alias", "list", "churn-model", "--history", "--json")
    assert code == 0, output
    return [(m["previous_version"], m["version"], m["moved_by"]) for m in json.loads(output)]


def test_set_then_roll_back_by_moving_the_alias(churn):
    # GIVEN champion set to v3 by ana
    code, output = invoke("registry", "alias", "set", "churn-model", "champion", "v3", "--env", "dev", "--by", "ana")
    assert (code, output) == (0, "dev/churn-model champion: (new) -> v3 (by ana)\n")

    # WHEN it is rolled back to v2 (a plain number works too)
    code, output = invoke("registry", "alias", "set", "churn-model", "champion", "2", "--env", "dev", "--by", "bob")

    # THEN it points at v2, and the history has both moves
    assert (code, output) == (0, "dev/churn-model champion: v3 -> v2 (by bob)\n")
    code, output = invoke("registry", "alias", "list", "churn-model", "--json")
    [current] = json.loads(output)
    assert {k: current[k] for k in ("env", "alias", "version", "previous_version", "moved_by")} == {
        "env": "dev",
        "alias": "champion",
        "version": 2,
        "previous_version": 3,
        "moved_by": "bob",
    }
    assert history() == [(None, 3, "ana"), (3, 2, "bob")]
    # AND the text forms say the same
    assert "champion" in invoke("registry", "alias", "list", "churn-model")[1]
    assert "v3" in invoke("registry", "alias", "list", "churn-model", "--env", "dev", "--history")[1]
    assert (
        invoke("registry", "alias", "list", "churn-model", "--env", "prod")[1]
        == "no aliases for 'churn-model' in prod\n"
    )


def test_moving_it_where_it_points_records_nothing(churn):
    invoke("registry", "alias", "set", "churn-model", "champion", "3", "--env", "dev", "--by", "ana")
    code, output = invoke("registry", "alias", "set", "churn-model", "champion", "3", "--env", "dev", "--by", "bob")
    assert (code, output) == (0, "dev/churn-model champion already points at v3: nothing recorded\n")
    assert history() == [(None, 3, "ana")]


def test_the_actor_defaults_to_the_user(churn):
    code, output = invoke("registry", "alias", "set", "churn-model", "candidate", "3", "--env", "dev", "--json")
    assert code == 0, output
    assert json.loads(output) | {"moved_at": "-"} == {
        "moved": True,
        "env": "dev",
        "model": "churn-model",
        "alias": "candidate",
        "version": 3,
        "previous_version": None,
        "moved_by": getpass.getuser(),
        "moved_at": "-",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["churn-model", "champion", "9", "--env", "dev"], "dev/churn-model has no version v9 (live versions: v2, v3)"),
        (["churn-model", "champion", "3", "--env", "prod"], "prod/churn-model has no version v3"),
        (["no-such-model", "champion", "1", "--env", "dev"], "dev/no-such-model has no version v1"),
        (["churn-model", "Champion", "3", "--env", "dev"], "alias 'Champion': must be"),
        (["churn-model", "latest", "3", "--env", "dev"], "alias 'latest' is reserved"),
    ],
)
def test_refusals_are_one_line_and_record_nothing(churn, args, message):
    code, output = invoke("registry", "alias", "set", *args)
    assert code == 1
    assert output.startswith("Error: ") and message in output and output.count("\n") == 1, output
    assert history() == []


@pytest.mark.parametrize(
    "args",
    [
        ["churn-model", "champion", "three", "--env", "dev"],  # not a version
        ["churn-model", "champion", "3"],  # no --env: never a default environment for a move
        ["churn-model", "champion", "3", "--env", "dev", "--by", " "],
    ],
)
def test_usage_errors_exit_2(churn, args):
    assert invoke("registry", "alias", "set", *args)[0] == 2
    assert history() == []


def test_registry_show_names_the_aliases(churn):
    # GIVEN champion on v3 and candidate on v2
    invoke("registry", "alias", "set", "churn-model", "champion", "3", "--env", "dev", "--by", "ana")
    invoke("registry", "alias", "set", "churn-model", "candidate", "2", "--env", "dev", "--by", "ana")

    # WHEN the model is shown
    code, output = invoke("registry", "show", "churn-model", "--json")

    # THEN each row names the aliases on its version, the list keeping its shape
    assert code == 0
    assert [(r["version"], r["aliases"]) for r in json.loads(output)] == [(2, ["candidate"]), (3, ["champion"])]
    text = invoke("registry", "show", "churn-model")[1]
    assert "champion -> v3" in text and "candidate -> v2" in text
