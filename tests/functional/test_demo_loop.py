"""`mlops-events demo`'s loop, as a user runs it: a new process in an empty directory, no service, no network.

GIVEN a fresh machine (no state dir, no trained model)
WHEN `mlops-events demo` runs
THEN the champion it served captured every row as Parquet, the drift job on that captured window found the
shifted features, the prediction and the confidence moved and named the version that answered, the
retrained v4 went through the gate to candidate and champion, the running service answered with v4 and,
after the alias moved back, with v3 again; and `demo --reset` shows the same loop again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.adapters.sqlite_drift_runs import SqliteDriftRunStore
from shared.adapters.sqlite_registry import SqliteRegistryStore

MODEL = "fraud-detector"


def demo(cwd: Path, *args: str, extra_path: Path | None = None) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLOPS_EVENTS_", "GOOGLE_", "STORAGE_EMULATOR", "FIRESTORE_EMULATOR", "PUBSUB_EMULATOR"))
    }
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_path), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "tooling.cli.main", "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def fresh_demo(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    cwd = tmp_path_factory.mktemp("fresh")
    done = demo(cwd)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, cwd / ".mlops-events"


def loop_lines(stdout: str) -> list[str]:
    """The loop's own lines: the indented ones under its heading (the demo's last section)."""
    return [line for line in stdout[stdout.index("\nThe loop: ") :].splitlines() if line.startswith("  ")]


def captured(state: Path) -> list[dict]:
    files = sorted((state / "buckets" / "ml-predictions-dev" / MODEL).glob("dt=*/part-*.parquet"))
    rows = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default").to_pylist()
    return sorted(rows, key=lambda r: (r["served_at"], r["request_id"], r["row"]))  # the order served


def test_the_served_traffic_is_captured_and_the_drift_job_finds_what_moved_on_it(fresh_demo):
    done, state = fresh_demo
    # The captures: the inference section's 3 rows, the loop's 500 (250 like the reference, then 250 shifted),
    # then the probes that watched the alias move; every one as Parquet in the embedded predictions bucket.
    rows = captured(state)
    loop = [r for r in rows if r["model_version"] == "v3"][3:503]
    assert len(loop) == 500 and {r["model"] for r in loop} == {MODEL}
    like_reference, shifted = loop[:250], loop[250:]
    mean = lambda part, key: sum(r[key] for r in part) / len(part)  # noqa: E731
    assert mean(shifted, "amount") > 1.3 * mean(like_reference, "amount")
    assert mean(shifted, "prediction") > mean(like_reference, "prediction")
    share = lambda part: sum(r["country"] in {"US", "BR"} for r in part) / len(part)  # noqa: E731
    assert share(shifted) > 2 * share(like_reference)

    # The drift run on the captured window: its row, its report, and what the demo printed of it.
    run = SqliteDriftRunStore(state / "monitoring.sqlite").latest(MODEL, "dev")
    assert run is not None and run["job"] == "drift-report-fraud-detector-served"
    assert run["current_rows"] == 250 and run["dataset_drifted"]
    drifted = set(run["drifted_features"])
    assert {"amount", "country", "prediction drift: prediction", "confidence drift: confidence"} <= drifted
    assert not drifted & {"hour", "device"}  # what did not move is not reported as moved
    assert "model versions served: v3" in run["current"]
    report = state / "buckets" / run["report_uri"].removeprefix("gs://")
    assert report.is_file() and "<html" in report.read_text()[:200].lower()
    lines = loop_lines(done.stdout)
    assert any(re.search(r"features drifted: .*amount.*country", line) for line in lines), lines
    assert any("prediction drift: prediction" in line and "confidence drift: confidence" in line for line in lines)
    assert any("versions in the window: v3" in line for line in lines)
    assert any(line.strip() == f"report: {Path('.mlops-events') / report.relative_to(state)}" for line in lines)


def test_the_gate_promotes_the_retrained_version_and_the_service_follows_the_alias_there_and_back(fresh_demo):
    done, state = fresh_demo
    registry = SqliteRegistryStore(state / "registry.sqlite")
    decisions = {d.version: d for d in registry.decisions(MODEL, "dev")}
    assert decisions[3].passed and decisions[3].champion_version is None
    assert decisions[4].passed and decisions[4].champion_version == 3
    # champion: v3 (the gate, no champion before), v4 (the gate), back to v3 (the demo's alias move)
    history = [(m.alias, m.previous_version, m.version, m.moved_by) for m in registry.alias_history(MODEL, "dev")]
    assert [h for h in history if h[0] == "champion"] == [
        ("champion", None, 3, "evaluate_model"),
        ("champion", 3, 4, "evaluate_model"),
        ("champion", 4, 3, "demo"),
    ]
    assert [h for h in history if h[0] == "candidate"] == [
        ("candidate", None, 3, "evaluate_model"),
        ("candidate", 3, 4, "evaluate_model"),
    ]
    assert {m.alias: m.version for m in registry.aliases(MODEL, "dev")} == {"candidate": 4, "champion": 3}

    # The one service answered with v4 once the gate moved the alias, then with v3 after the rollback: its
    # captured answers, in the order served, end v3 ... v4 ... v3.
    versions = [r["model_version"] for r in captured(state)]
    changes = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    assert changes == ["v3", "v4", "v3"]
    lines = loop_lines(done.stdout)
    assert any("passed the quality gate against champion v3: candidate -> v4, champion -> v4" in line for line in lines)
    assert any(line.strip().startswith("the same service, no restart: POST /predict -> v4") for line in lines)
    assert any("champion: v4 -> v3 (by demo)" in line for line in lines)
    assert any(
        line.strip().startswith("POST /predict -> v3") and "a rollback is an alias move" in line for line in lines
    )


def test_demo_reset_shows_the_same_loop_again(fresh_demo):
    done, state = fresh_demo
    again = demo(state.parent, "--reset")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]

    def stable(stdout: str) -> list[str]:  # the report's name holds the run's time of day
        return [re.sub(r"/\d{4}-\d\d-\d\d/\d{6}-", "/DAY/TIME-", line) for line in loop_lines(stdout)]

    assert stable(again.stdout) == stable(done.stdout)
    # the buckets were cleared too: the models bucket holds v4 once, not a v5 beside it
    assert sorted(p.name for p in (state / "buckets" / "ml-models-dev" / MODEL).iterdir()) == ["v1", "v2", "v3", "v4"]


def test_without_torch_the_loop_is_skipped_with_one_line_and_the_demo_still_succeeds(tmp_path):
    hidden = tmp_path / "hide-torch" / "torch"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    done = demo(tmp_path, extra_path=hidden.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert loop_lines(done.stdout) == ["  skipped: torch is not installed (pip install torch==2.13.0)"]
    assert not (tmp_path / ".mlops-events" / "buckets" / "ml-predictions-dev").exists()
