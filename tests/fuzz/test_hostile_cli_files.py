"""The fuzz tier for the CLI's input files: the event files `replay` reads and the rollout targets file.

GIVEN an event file that is a hostile variant of a saved fixture, or bytes that are no event at all
(empty, not UTF-8, not JSON, a YAML alias bomb), or a rollout targets file that is a hostile variant of
events/ecr/targets.yaml
WHEN `mlops-events replay` reads it
THEN it answers with one JSON line per file and a documented exit code: 0 handled, 3 rejected (bad
event), and for a targets file it cannot use, 4 with an `error` that names the file (configuration:
fixed, the same event goes through); never a traceback, never an exit code of its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.support.fuzz.hostile_delivery import seeds
from tests.support.fuzz.mutations import describe, dumps, mutated_documents
from tooling.cli.main import cli
from tooling.manifest import REPO_ROOT

TARGETS = REPO_ROOT / "events" / "ecr" / "targets.yaml"
ECR_PUSH = REPO_ROOT / "events" / "ecr" / "01-push-inference-1.2.0.json"
SEEDS = seeds()
EXAMPLES = int(os.environ.get("MLOPS_EVENTS_FUZZ_EXAMPLES", "80")) // 2
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=list(HealthCheck),
)
NOT_EVENTS = {
    "empty": b"",
    "not utf-8": b"\xff\xfe\x00\x81",
    "truncated json": b'{"specversion": "1.0", "id": ',
    "json null": b"null",
    "json array": b"[1, 2]",
    "nul bytes": b"\x00" * 64,
    "yaml, not json": b"specversion: '1.0'\nid: x\n",
}
NOT_TARGETS = {
    "empty": b"",
    "not utf-8": b"\xff\xfe\x00\x81",
    "a python object tag": b"targets: !!python/object/apply:os.system ['echo pwned']\n",
    "alias bomb": b"a: &a ['x','x','x','x','x','x','x','x','x']\n"
    + b"".join(f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n".encode() for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    + b"targets: *i\n",
    "a list": b"- repository: ml/inference\n",
    "deep": b"targets: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "tabs": b"targets:\n\t- repository: x\n",
}


@pytest.fixture
def runner(state_dir) -> CliRunner:
    return CliRunner()


def replay(runner: CliRunner, *args: str, stdin: bytes | None = None):
    result = runner.invoke(cli, ["replay", *args], input=stdin, catch_exceptions=True)
    # Only a clean exit: an exception other than SystemExit is a crash of the command itself.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output, result.output[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, lines


@pytest.mark.parametrize("content", list(NOT_EVENTS), ids=list(NOT_EVENTS))
@pytest.mark.parametrize("function", ["register_model", "budget_alert", "ecr_rollout"])
def test_a_file_that_is_no_event_is_rejected(runner, tmp_path, content, function):
    path = tmp_path / "event.json"
    path.write_bytes(NOT_EVENTS[content])
    code, lines = replay(runner, str(path), "--function", function)
    assert code == 3 and [line["outcome"] for line in lines] == ["rejected"], lines


def test_hostile_event_files_end_as_an_outcome(runner, tmp_path):
    @SETTINGS
    @given(st.data())
    def check(data):
        seed = data.draw(st.sampled_from(SEEDS), label="seed")
        changed, document = data.draw(mutated_documents(seed.document), label="hostile file")
        path = tmp_path / seed.path.name
        path.write_bytes(dumps(document).encode("utf-8", "surrogatepass"))
        note(f"{seed.label}, changed {[describe(p) for p in changed]}")
        # Half named to their function, half routed by what they say (the mutation may leave no route:
        # rejected, exit 3), some through standard input as JSON lines
        how = data.draw(st.sampled_from(["--function", "routed", "stdin"]), label="how")
        if how == "--function":
            code, lines = replay(runner, str(path), "--function", seed.spec.name)
        elif how == "routed":
            code, lines = replay(runner, str(path))
        else:
            code, lines = replay(runner, "-", stdin=dumps(document).encode("utf-8", "surrogatepass") + b"\n")
        assert len(lines) == 1, lines
        assert (code, lines[0]["outcome"]) in {(0, "applied"), (0, "duplicate"), (0, "ignored"), (3, "rejected")}, lines

    check()


def _targets_error(code: int, lines: list[dict], targets: Path) -> None:
    """A targets file the rollout cannot use is a configuration error that names the file, or (when it
    still parses) the event is handled by what it says."""
    [line] = lines
    if line["outcome"] == "error":
        assert code == 4 and str(targets) in line["detail"], line
    else:
        assert (code, line["outcome"]) in {(0, "applied"), (0, "duplicate"), (0, "ignored")}, line


@pytest.mark.parametrize("content", list(NOT_TARGETS), ids=list(NOT_TARGETS))
def test_a_targets_file_that_is_no_targets_file_is_an_error_naming_it(runner, tmp_path, monkeypatch, content):
    targets = tmp_path / "targets.yaml"
    targets.write_bytes(NOT_TARGETS[content])
    monkeypatch.setenv("MLOPS_EVENTS_ROLLOUT_TARGETS_FILE", str(targets))
    code, lines = replay(runner, str(ECR_PUSH))
    assert lines[0]["outcome"] == "error", lines
    _targets_error(code, lines, targets)


def test_hostile_targets_files_are_an_error_naming_the_file_or_are_used(runner, tmp_path, monkeypatch):
    seed = yaml.safe_load(TARGETS.read_text())
    targets = tmp_path / "targets.yaml"
    monkeypatch.setenv("MLOPS_EVENTS_ROLLOUT_TARGETS_FILE", str(targets))

    push = json.loads(ECR_PUSH.read_text())

    @SETTINGS
    @given(mutated_documents(seed), st.integers(min_value=0, max_value=2**64))
    def check(mutation, digest):
        changed, document = mutation
        targets.write_text(dumps(document), encoding="utf-8")  # JSON is YAML
        note(f"changed {[describe(p) for p in changed]}")
        # A digest of its own per example: a push rolled out before would end as `duplicate` before the
        # hostile targets were read
        event = tmp_path / "push.json"
        event.write_text(
            json.dumps(
                {**push, "id": f"e{digest}", "detail": {**push["detail"], "image-digest": f"sha256:{digest:064x}"}}
            )
        )
        code, lines = replay(runner, str(event))
        _targets_error(code, lines, targets)

    check()
