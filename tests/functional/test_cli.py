"""The CLI contract later checks rely on: replay's JSON lines and exit codes, registry, generate-event, demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from shared.cli.main import cli
from shared.manifest import REPO_ROOT

EVENTS = REPO_ROOT / "events"
SAFETENSORS = str(EVENTS / "storage/01-finalized-safetensors.structured.json")
MALFORMED = str(EVENTS / "storage/21-malformed-generation.binary.json")


@pytest.fixture
def run(state_dir):
    def invoke(*args: str):
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]

    return invoke


def test_replaying_an_event_twice_gives_applied_then_duplicate(run):
    code, lines = run("replay", SAFETENSORS, SAFETENSORS)
    assert code == 0
    assert [line["outcome"] for line in lines] == ["applied", "duplicate"]
    assert lines[0] == {
        "event": SAFETENSORS,
        "function": "register_model",
        "outcome": "applied",
        "detail": lines[0]["detail"],
    }


def test_a_malformed_event_is_rejected_naming_the_field_with_exit_2_and_nothing_written(run, state_dir):
    code, lines = run("replay", MALFORMED)
    assert code == 2
    assert lines[0]["outcome"] == "rejected"
    assert "data.generation" in lines[0]["detail"]
    assert json.loads(CliRunner().invoke(cli, ["registry", "list", "--json"]).output) == []


def test_an_unknown_file_is_an_internal_failure_with_exit_1(run, tmp_path):
    code, lines = run("replay", str(tmp_path / "nope.json"))
    assert code == 1
    assert lines[0]["outcome"] == "error"


def test_generated_events_replay_in_every_mode(run, state_dir, tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b'{"__metadata__":{}}'[:16] + b"\x00" * 4)
    for index, mode in enumerate(["structured", "binary", "legacy"], start=1):
        runner = CliRunner()
        generated = runner.invoke(
            cli,
            [
                "generate-event",
                "gcs-finalize",
                "--bucket",
                "ml-models-prod",
                "--name",
                f"ranker/v{index}/model.safetensors",
                "--file",
                str(model),
                "--metadata",
                "uploader=alice",
                "--mode",
                mode,
            ],
        )
        assert generated.exit_code == 0, generated.output
        path = tmp_path / f"event-{mode}.json"
        path.write_text(generated.output)
        code, lines = run("replay", str(path))
        assert (code, lines[0]["outcome"]) == (0, "applied"), lines
    rows = json.loads(CliRunner().invoke(cli, ["registry", "show", "ranker", "--json"]).output)
    assert [(r["env"], r["version"], r["uploader"], r["size"]) for r in rows] == [
        ("prod", v, "alice", model.stat().st_size) for v in (1, 2, 3)
    ]


def test_registry_list_shows_the_latest_version(run):
    run(
        "replay",
        *(
            str(EVENTS / "storage" / n)
            for n in ("05-finalized-onnx-v3.structured.json", "06-finalized-onnx-v2-late.structured.json")
        ),
    )
    listing = json.loads(CliRunner().invoke(cli, ["registry", "list", "--json"]).output)
    assert [(m["model"], m["latest_version"], m["versions"]) for m in listing] == [("churn-model", 3, [2, 3])]
    shown = CliRunner().invoke(cli, ["registry", "show", "churn-model"])
    assert "v3" in shown.output and "onnx" in shown.output
    assert CliRunner().invoke(cli, ["registry", "show", "unknown-model"]).exit_code == 1


def test_functions_lists_the_manifest():
    output = CliRunner().invoke(cli, ["functions"]).output
    assert "register_model" in output and "google.cloud.storage.object.v1.finalized" in output
    assert "reconcile_registry" in output and "17 3 * * *" in output


def test_the_demo_runs_on_a_fresh_machine_with_no_service(tmp_path):
    # The README's first command, as a user runs it: a new process in an empty directory.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLOPS_EVENTS_", "GOOGLE_", "STORAGE_EMULATOR", "FIRESTORE_EMULATOR", "PUBSUB_EMULATOR"))
    }
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "duplicate 01-finalized-safetensors" in done.stdout
    assert "fraud-detector" in done.stdout and "churn-model" in done.stdout
    assert (tmp_path / ".mlops-events" / "registry.sqlite").is_file()


def test_build_names_one_function_and_refuses_unknown_or_missing_names(tmp_path):
    runner = CliRunner()
    built = runner.invoke(cli, ["build", "budget_alert", "--out", str(tmp_path)])
    assert built.exit_code == 0, built.output
    assert built.output.startswith("budget_alert") and (tmp_path / "budget_alert.zip").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["budget_alert", "budget_alert.zip"]
    unknown = runner.invoke(cli, ["build", "no_such_function", "--out", str(tmp_path)])
    assert unknown.exit_code == 1 and "no function 'no_such_function'" in unknown.output
    neither = runner.invoke(cli, ["build", "--out", str(tmp_path)])
    assert neither.exit_code == 2 and "name the functions to build, or pass --all" in neither.output
