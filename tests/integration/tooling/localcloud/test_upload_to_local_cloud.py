"""`mlops-events upload`: files, the repository's samples and the demo model into the running local cloud's
Cloud Storage (fake-gcs-server), from any folder, and never an empty object for a file that is not there (what
the README's `curl --data-binary @missing` did)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from tooling.cli.main import cli
from tooling.manifest import REPO_ROOT

SAMPLES = REPO_ROOT / "events" / "objects" / "ml-models-dev"


@pytest.fixture
def running(tmp_path, gcs_emulator, storage_client, monkeypatch):
    """A state dir whose up.json names the emulator, as a running `up` writes it; the test stands elsewhere."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "up.json").write_text(
        json.dumps({"pid": os.getpid(), "emulators": {"gcs": {"url": gcs_emulator.url}}, "control_url": "x"})
    )
    if storage_client.lookup_bucket("ml-models-dev") is None:
        storage_client.create_bucket("ml-models-dev")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for variable in ("MLOPS_EVENTS_STATE_DIR", "MLOPS_EVENTS_LOCAL_CLOUD_DIR"):
        monkeypatch.delenv(variable, raising=False)
    return state_dir


def _stored(storage_client, bucket: str, name: str) -> bytes:
    return storage_client.bucket(bucket).blob(name).download_as_bytes()


def test_a_sample_is_uploaded_whole_from_any_folder(running, storage_client, monkeypatch):
    # GIVEN a shell that sourced up.env, standing outside the repository
    monkeypatch.setenv("MLOPS_EVENTS_LOCAL_CLOUD_DIR", str(running))

    result = CliRunner().invoke(cli, ["upload", "--sample", "fraud-detector/v1"])

    assert result.exit_code == 0, result.output
    for path in sorted((SAMPLES / "fraud-detector" / "v1").iterdir()):
        name = f"fraud-detector/v1/{path.name}"
        assert _stored(storage_client, "ml-models-dev", name) == path.read_bytes()
        assert f"gs://ml-models-dev/{name}  {path.stat().st_size} bytes" in result.output


def test_a_file_that_does_not_exist_fails_loudly_and_uploads_nothing(running, storage_client):
    result = CliRunner().invoke(
        cli,
        [
            "upload",
            "events/missing/model.safetensors",
            "--to",
            "gs://ml-models-dev/ghost/v1/",
            "--state-dir",
            str(running),
        ],
    )

    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert list(storage_client.list_blobs("ml-models-dev", prefix="ghost/")) == []


def test_files_go_under_the_prefix_with_their_names(running, storage_client, tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x07onnx-bytes")

    result = CliRunner().invoke(
        cli, ["upload", str(model), "--to", "gs://ml-models-dev/ranker/v2", "--state-dir", str(running)]
    )

    assert result.exit_code == 0, result.output
    assert _stored(storage_client, "ml-models-dev", "ranker/v2/model.onnx") == b"\x08\x07onnx-bytes"


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--sample", "fraud-detector/v9"], "no sample 'fraud-detector/v9'; samples: churn-model/v1"),
        (["--sample", "fraud-detector/v1", "--to", "gs://no-such-bucket/x/"], "no bucket no-such-bucket"),
    ],
)
def test_a_sample_or_bucket_that_is_not_there_is_one_line(running, arguments, says):
    result = CliRunner().invoke(cli, ["upload", *arguments, "--state-dir", str(running)])

    assert result.exit_code == 1
    assert says in result.output


def test_without_a_running_up_it_says_how_to_start_one(tmp_path):
    result = CliRunner().invoke(cli, ["upload", "--sample", "fraud-detector/v1", "--state-dir", str(tmp_path)])

    assert result.exit_code == 1
    assert "start `mlops-events up` first" in result.output


def test_the_demo_model_is_trained_under_the_state_dir_not_where_the_user_stands(running, storage_client):
    pytest.importorskip("torch")

    result = CliRunner().invoke(
        cli, ["upload", "--demo-model", "--to", "gs://ml-models-dev/fraud-detector/v3/", "--state-dir", str(running)]
    )

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (running / "demo-model").iterdir()) >= ["model.json", "model.pt"]
    assert list(os.scandir(".")) == []  # nothing where the user stands
    stored = _stored(storage_client, "ml-models-dev", "fraud-detector/v3/model.pt")
    assert stored == (running / "demo-model" / "model.pt").read_bytes()
