"""Every manifest entry is deployable: an entry point that exists, a trigger, and fixtures that replay."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest

from tooling.manifest import REPO_ROOT, load_manifest

SPECS = load_manifest()


@pytest.mark.parametrize("spec", [s for s in SPECS if s.platform == "aws-lambda"], ids=lambda s: s.name)
def test_a_lambda_entry_point_takes_an_event_and_a_context(spec):
    import inspect

    from tooling.local_lambda import lambda_handler

    handler = lambda_handler(spec)
    assert spec.signature == "lambda" and spec.trigger["kind"] == "eventbridge"
    assert list(inspect.signature(handler).parameters)[:2] == ["event", "context"]
    assert set(spec.trigger["pattern"]) >= {"source", "detail-type"}


@pytest.mark.parametrize("spec", [s for s in SPECS if s.platform == "gcp-function"], ids=lambda s: s.name)
def test_entry_point_exists_and_is_a_cloudevent_function(spec):
    from functions_framework._function_registry import get_user_function, load_function_module

    module, loader_spec = load_function_module(str(spec.source_path))
    loader_spec.loader.exec_module(module)
    function = get_user_function(str(spec.source_path), module, spec.entry_point)
    assert callable(function)
    assert spec.signature == ("http" if spec.trigger["kind"] == "http" else "cloudevent")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_trigger_retry_and_fixtures_are_declared(spec):
    assert spec.event_types or spec.trigger["kind"] == "http", f"{spec.name} declares no event types"
    assert spec.trigger["kind"] in {"eventarc", "schedule", "pubsub", "http", "eventbridge"}
    if spec.trigger["kind"] == "schedule":
        assert len(spec.trigger["schedule"].split()) == 5 and spec.trigger["topic"]
    if spec.trigger["kind"] in {"pubsub", "schedule"}:
        assert spec.event_types == ["google.cloud.pubsub.topic.v1.messagePublished"] and spec.trigger["topic"]
    for secret in spec.secrets:
        assert set(secret) == {"name", "env"} and secret["env"].startswith("MLOPS_EVENTS_")
    if spec.trigger["kind"] != "http":  # an HTTP call's retries are its caller's (Cloud Scheduler's)
        # Eventarc's GCS triggers have no dead-letter topic: a scheduled reconciliation stands in for it.
        assert spec.retry.get("dead_letter_topic") or spec.retry.get("reconciled_by"), (
            "a retried function needs somewhere for poison events"
        )
    assert spec.fixture_files(), f"{spec.name} has no fixtures under {spec.fixtures}"
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in spec.extras:
        assert extra in extras, f"{spec.name} names extra {extra!r} that pyproject.toml lacks"


def test_function_names_are_unique():
    names = [s.name for s in SPECS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "fixture", ["storage/05-finalized-onnx-v3.structured.json", "budget/02-actual-50.structured.json"]
)
def test_the_embedded_path_imports_no_cloud_sdk_and_no_torch(tmp_path, fixture):
    # A whole replay in a fresh interpreter, then a look at what it had to import.
    fixture = REPO_ROOT / "events" / fixture
    script = f"""
import json, os, pathlib, sys
os.environ["MLOPS_EVENTS_STATE_DIR"] = {str(tmp_path)!r}
from tooling.replay import Replayer
result = Replayer().replay_file(pathlib.Path({str(fixture)!r}))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "boto3", "botocore", "grpc", "slack_sdk")
               or m.startswith(("google.cloud.storage", "google.cloud.firestore", "google.cloud.bigquery",
                                "google.cloud.secretmanager", "google.api_core", "google.auth")))
print(json.dumps({{"outcome": result.outcome, "heavy": heavy}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"outcome": "applied", "heavy": []}
