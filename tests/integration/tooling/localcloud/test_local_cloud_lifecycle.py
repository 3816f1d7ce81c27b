"""`mlops-events status` and `down` against a real `up` (its own process, real emulators), and what a shell
that still sources its up.env gets once it is down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.local_cloud import RunningUp
from tooling.localcloud.processes import group_alive
from tooling.manifest import REPO_ROOT

pytestmark = pytest.mark.integration


def mlops_events(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    """The CLI as a user runs it from another terminal."""
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tooling.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
    )
    return done, time.monotonic() - began


def sourced(up_env: Path) -> dict[str, str]:
    """A shell's environment after `source up.env`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_EVENTS_")}
    for line in up_env.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    return env


def test_status_then_down_from_another_shell_and_the_stale_env_fails_fast(tmp_path: Path):
    # GIVEN a running up, and a shell that sourced its up.env
    running = RunningUp.start(tmp_path, "--no-inference", "--no-schedules")
    try:
        state_dir = str(running.state_dir)
        shell = sourced(running.state_dir / "up.env")
        assert shell["MLOPS_EVENTS_LOCAL_CLOUD_DIR"] == state_dir
        groups = [e["pid"] for e in running.state["emulators"].values()]
        groups += [f["pid"] for f in running.state["functions"].values()]

        # WHEN status is asked THEN every emulator and function answers, with its pid, since up started
        done, _ = mlops_events("status", "--state-dir", state_dir, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["running"] and report["healthy"] and report["pid"] == running.process.pid
        assert report["started_at"] == running.state["started_at"]
        names = {(c["kind"], c["name"]) for c in report["components"] if c["healthy"]}
        assert {("emulator", n) for n in ("pubsub", "firestore", "bigquery", "moto", "gcs")} <= names
        assert {("function", n) for n in ("register_model", "budget_alert", "drift_report", "ecr_rollout")} <= names
        text, _ = mlops_events("status", "--state-dir", state_dir)
        assert text.returncode == 0 and f"pid {running.process.pid}, up since" in text.stdout
        # ...and the sourced shell reaches the emulators (the check lets a live local cloud through)
        listed, _ = mlops_events("registry", "list", env=shell)
        assert listed.returncode == 0, listed.stderr

        # WHEN another shell runs `down`
        stopped, _ = mlops_events("down", "--state-dir", state_dir)
        # THEN up stops as on Ctrl-C: exit 0, nothing left running, up.json and up.env gone
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert f"(pid {running.process.pid})" in stopped.stdout
        assert running.process.wait(timeout=30) == 0, running.console()[-3000:]
        assert "none left running" in running.console()
        assert [pgid for pgid in groups if group_alive(pgid)] == []
        assert not (running.state_dir / "up.json").exists() and not (running.state_dir / "up.env").exists()
    finally:
        running.interrupt()

    # WHEN the shell that still holds up.env's variables uses the emulators
    failed, took_s = mlops_events("registry", "list", env=shell)
    # THEN one line at once (the clients alone would retry for ~52 s), saying what to do
    assert failed.returncode == 1
    assert took_s < 2.0, took_s
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
    assert f"the local cloud in {state_dir} is not running (up.json missing" in failed.stderr
    assert "run `mlops-events up" in failed.stderr
    # ...and status and down say that nothing runs
    assert mlops_events("status", "--state-dir", state_dir)[0].returncode == 1
    again, _ = mlops_events("down", "--state-dir", state_dir)
    assert again.returncode == 0 and "nothing to stop" in again.stdout
