"""A shell pointed at a local cloud that is gone, and `status`/`down` where none runs: one line, at once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tooling.cli.main import cli
from tooling.manifest import REPO_ROOT

FIXTURE = REPO_ROOT / "events" / "budget" / "02-actual-50.structured.json"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dead_up_env(state_dir: Path) -> dict[str, str]:
    """What `source up.env` left in a shell after its `up` stopped: every emulator variable, nothing answering."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_EVENTS_")}
    env.update(
        {
            "MLOPS_EVENTS_PROFILE": "emulators",
            "MLOPS_EVENTS_LOCAL_CLOUD_DIR": str(state_dir),
            "GOOGLE_CLOUD_PROJECT": "mlops-events-local",
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{closed_port()}",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{closed_port()}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{closed_port()}",
            "MLOPS_EVENTS_BIGQUERY_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }
    )
    return env


def run_cli(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tooling.cli.main", *args], capture_output=True, text=True, env=env, timeout=120
    )
    return done, time.monotonic() - began


@pytest.mark.parametrize(
    "command",
    [["registry", "list"], ["registry", "show", "fraud-detector"], ["replay", str(FIXTURE)]],
    ids=["registry-list", "registry-show", "replay"],
)
def test_a_shell_still_sourcing_a_stopped_ups_env_fails_at_once_naming_the_fix(tmp_path, command):
    # GIVEN a shell that sourced up.env of an `up` that has stopped (up.json gone)
    env = dict(dead_up_env(tmp_path))
    # WHEN a command that reads the emulators runs
    done, took_s = run_cli(env, *command)
    # THEN one line, in well under 2 s (the client libraries retry a dead emulator for ~52 s), naming the fix
    assert done.returncode == 1, done.stdout + done.stderr
    assert took_s < 2.0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"the local cloud in {tmp_path} is not running (up.json missing" in lines[0]
    assert env["FIRESTORE_EMULATOR_HOST"] in lines[0]
    assert "mlops-events up" in lines[0] and "unset" in lines[0]


def test_a_stale_up_json_is_named_with_its_dead_pid(tmp_path):
    # GIVEN up.json left behind by an `up` that was killed hard (its pid no longer runs)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "up.json").write_text(json.dumps({"pid": gone.pid, "control_url": "http://127.0.0.1:9"}))
    done, _ = run_cli(dead_up_env(tmp_path), "registry", "list")
    assert done.returncode == 1
    assert f"up.json left by pid {gone.pid}, which is not running" in done.stderr


def test_an_up_running_on_other_ports_says_to_source_up_env_again(tmp_path):
    # GIVEN a newer `up` runs from the same state dir (this test's pid stands in for it) on new ports
    (tmp_path / "up.json").write_text(json.dumps({"pid": os.getpid(), "control_url": "http://127.0.0.1:9"}))
    done, _ = run_cli(dead_up_env(tmp_path), "registry", "list")
    assert done.returncode == 1
    assert f"runs on other ports now: `source {tmp_path / 'up.env'}` again" in done.stderr


def test_emulator_variables_set_by_hand_name_the_variables(tmp_path):
    # GIVEN emulator variables a user set themselves (no up.env): the error names the variables to fix
    env = dead_up_env(tmp_path)
    del env["MLOPS_EVENTS_LOCAL_CLOUD_DIR"]
    done, took_s = run_cli(env, "registry", "list")
    assert done.returncode == 1 and took_s < 2.0
    assert "not answering (FIRESTORE_EMULATOR_HOST" in done.stderr and "or unset" in done.stderr


def test_with_v_the_error_keeps_its_traceback(tmp_path):
    done, _ = run_cli(dead_up_env(tmp_path), "-v", "registry", "list")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "LocalCloudDown" in done.stderr


def test_the_embedded_profile_probes_nothing(tmp_path):
    # GIVEN the same dead variables, but the embedded profile: no emulator is used, so none is checked
    result = CliRunner().invoke(
        cli,
        ["registry", "list", "--profile", "embedded", "--state-dir", str(tmp_path)],
        env=dead_up_env(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "no models registered" in result.output


def test_status_without_a_running_up_says_so(tmp_path):
    result = CliRunner().invoke(cli, ["status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"no local cloud runs from {tmp_path} (no up.json)" in result.output
    as_json = CliRunner().invoke(cli, ["status", "--state-dir", str(tmp_path), "--json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.output)["running"] is False


def test_down_without_a_running_up_removes_stale_files_and_signals_nothing(tmp_path):
    # GIVEN up.json and up.env left by an `up` killed hard, its pid now free
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "up.json").write_text(json.dumps({"pid": gone.pid, "control_url": "http://127.0.0.1:9"}))
    (tmp_path / "up.env").write_text("export FIRESTORE_EMULATOR_HOST=127.0.0.1:9\n")
    result = CliRunner().invoke(cli, ["down", "--state-dir", str(tmp_path)])
    # THEN nothing to stop (exit 0), and the files that would mislead a shell are gone
    assert result.exit_code == 0, result.output
    assert "nothing to stop" in result.output
    assert list(tmp_path.iterdir()) == []


def test_down_never_signals_a_live_pid_whose_control_endpoint_does_not_answer(tmp_path):
    # GIVEN up.json naming a live process that is not an `up` (a pid reused after a hard kill)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "up.json").write_text(json.dumps({"pid": bystander.pid, "control_url": "http://127.0.0.1:9"}))
        result = CliRunner().invoke(cli, ["down", "--state-dir", str(tmp_path)])
        assert result.exit_code == 0
        assert "does not answer" in result.output
        assert bystander.poll() is None  # still running: not signalled
        assert (tmp_path / "up.json").exists()  # not ours to judge: left for the user
    finally:
        bystander.kill()
        bystander.wait()


def test_up_only_refuses_a_name_the_manifest_does_not_have_before_starting_anything(tmp_path):
    result = CliRunner().invoke(cli, ["up", "--state-dir", str(tmp_path), "--only", "budget_alert,budget-alrt"])
    assert result.exit_code == 2
    assert "no function 'budget-alrt' (did you mean 'budget_alert'?)" in result.output
    assert "it has: budget_alert," in result.output
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


def test_each_function_needs_the_emulators_its_trigger_and_its_ports_use():
    from tooling.localcloud.needs import emulators_for, function_emulators, select
    from tooling.manifest import load_manifest

    specs = {spec.name: spec for spec in load_manifest()}
    # budget_alert: its topic (Pub/Sub), idempotency claims and the alert ledger (Firestore); no bucket, no table
    assert function_emulators(specs["budget_alert"]) == {"pubsub", "firestore"}
    # register_model: a GCS notification through Pub/Sub; the registry in Firestore fanned out to BigQuery
    assert function_emulators(specs["register_model"]) == {"gcs", "pubsub", "firestore", "bigquery"}
    # the HTTP drift job: no topic, so no Pub/Sub
    assert function_emulators(specs["drift_report_http"]) == {"gcs", "firestore", "bigquery"}
    # the Lambda: moto only (the cluster and the Slack receiver run inside up)
    assert function_emulators(specs["ecr_rollout"]) == {"moto"}
    chosen, inference = select(list(specs.values()), ["ecr_rollout,inference"])
    assert [spec.name for spec in chosen] == ["ecr_rollout"] and inference
    assert emulators_for(chosen, inference) == {"moto", "gcs", "firestore", "bigquery"}


def test_every_function_of_the_manifest_has_its_emulators_known():
    # A new port in a handler's Deps with no entry in PORT_EMULATORS would fail `up --only` for it: caught here
    from tooling.localcloud.needs import function_emulators
    from tooling.manifest import load_manifest

    for spec in load_manifest():
        assert function_emulators(spec) <= {"pubsub", "firestore", "bigquery", "moto", "gcs"}


def test_up_with_a_kubeconfig_context_it_does_not_have_fails_before_starting_anything(tmp_path):
    config = tmp_path / "kubeconfig"
    config.write_text("contexts: [{name: kind-dev, context: {cluster: c, user: u}}]\ncurrent-context: kind-dev\n")
    state = tmp_path / "state"
    result = CliRunner().invoke(
        cli,
        ["up", "--state-dir", str(state), "--kubeconfig", str(config), "--context", "k3d"],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 1
    assert "no context 'k3d'; it has: kind-dev" in result.output
    assert not (state / "up.json").exists() and not (state / "events.jsonl").exists()
