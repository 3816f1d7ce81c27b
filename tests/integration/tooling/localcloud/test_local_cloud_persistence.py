"""`up --import DIR --export-on-exit DIR`: what one `up` wrote into the emulators is there after a restart, read
back with the real clients: objects (with their metadata) in fake-gcs-server, the registry in Firestore and
BigQuery, ECR images in moto; and an image that was already there is not rolled out again."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest

from tests.support.local_cloud import RunningUp
from tooling.manifest import REPO_ROOT

pytestmark = pytest.mark.integration

MODEL = REPO_ROOT / "events" / "objects" / "ml-models-dev" / "churn-model" / "v2" / "model.onnx"
ARGS = ("--no-inference", "--no-schedules", "--backoff-scale", "0.02")


def clients(running: RunningUp) -> dict:
    import boto3
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery, firestore, storage

    project, emulators = running.state["project"], running.state["emulators"]
    return {
        "storage": storage.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=emulators["gcs"]["url"]),
        ),
        "firestore": firestore.Client(project=project, credentials=AnonymousCredentials()),
        "bigquery": bigquery.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=emulators["bigquery"]["url"]),
        ),
        "ecr": boto3.client(
            "ecr",
            endpoint_url=emulators["moto"]["url"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ),
    }


def image_manifest() -> str:
    layer = {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1}
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {**layer, "digest": "sha256:" + uuid.uuid4().hex * 2},
            "layers": [{**layer, "digest": "sha256:" + uuid.uuid4().hex * 2}],
        }
    )


def registry_rows(bq, project: str) -> list[dict]:
    from shared.config import load_settings

    table = load_settings({"MLOPS_EVENTS_GCP_PROJECT": project}).bigquery_table_id
    return [dict(row) for row in bq.query(f"SELECT model, version FROM `{table}`").result(timeout=30)]


def test_an_export_on_exit_is_there_after_a_restart_with_import(tmp_path: Path):
    kept = tmp_path / "kept"  # one folder for both, as with Firebase's --import X --export-on-exit X
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    # GIVEN a first up with nothing to import yet
    first = RunningUp.start(tmp_path / "first", "--import", str(kept), "--export-on-exit", str(kept), *ARGS)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for variable, value in first.client_env.items():
                patch.setenv(variable, value)
            c = clients(first)
            # WHEN a model is uploaded (with metadata) and registered, and an image is pushed and rolled out
            blob = c["storage"].bucket("ml-models-dev").blob("churn-model/v2/model.onnx")
            blob.metadata = {"uploader": "persistence-test"}
            blob.upload_from_string(MODEL.read_bytes(), content_type="application/octet-stream")
            first.wait_for(
                lambda events: [e for e in events if e["function"] == "register_model" and e["outcome"] == "applied"],
                "registration",
            )
            pushed = c["ecr"].put_image(repositoryName="ml/inference", imageManifest=image_manifest(), imageTag="1.5.0")
            digest = pushed["image"]["imageId"]["imageDigest"]
            first.wait_for(
                lambda events: [e for e in events if e["function"] == "ecr_rollout" and digest[:19] in e["subject"]],
                "rollout",
                timeout_s=60,
            )
    finally:
        code = first.interrupt()
    # THEN the clean stop exported every emulator's data into the folder
    assert code == 0, first.console()[-3000:]
    assert f"exported bigquery, firestore, gcs, moto to {kept}" in first.console()
    summary = json.loads((kept / "export.json").read_text())
    assert summary["holds"] == ["bigquery", "firestore", "gcs", "moto"]
    recording = (kept / "moto" / "recording.jsonl").read_text()
    assert "PutImage" in recording and "DescribeImages" not in recording  # the ECR poll's reads are dropped

    # WHEN a second up imports it
    began = time.monotonic()
    second = RunningUp.start(tmp_path / "second", "--import", str(kept), *ARGS)
    try:
        print(f"second up ready in {time.monotonic() - began:.1f} s")
        with pytest.MonkeyPatch.context() as patch:
            for variable, value in second.client_env.items():
                patch.setenv(variable, value)
            c = clients(second)
            # THEN the object is there with its metadata and generation
            again = c["storage"].bucket("ml-models-dev").get_blob("churn-model/v2/model.onnx")
            assert again is not None and again.metadata == {"uploader": "persistence-test"}
            assert again.generation == blob.generation and again.download_as_bytes() == MODEL.read_bytes()
            # ...the registry in Firestore and in BigQuery
            pointer = c["firestore"].collection("models").document("churn-model").collection("envs").document("dev")
            assert pointer.get().to_dict()["latest_version"] == 2
            assert {"model": "churn-model", "version": 2} in registry_rows(c["bigquery"], second.state["project"])
            # ...the image in ECR, which the restarted bridge takes as already there: no second rollout
            images = c["ecr"].describe_images(repositoryName="ml/inference")["imageDetails"]
            assert digest in {image["imageDigest"] for image in images}
            time.sleep(2.5)  # two ECR polls
            assert not [e for e in second.events() if e["function"] == "ecr_rollout"]
    finally:
        assert second.interrupt() == 0, second.console()[-3000:]
    # an up without --export-on-exit leaves the folder as it was
    assert json.loads((kept / "export.json").read_text()) == summary


def test_import_of_a_folder_that_does_not_exist_fails_before_anything_starts(tmp_path: Path):
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tooling.cli.main",
            "up",
            "--state-dir",
            str(tmp_path / "s"),
            "--import",
            str(tmp_path / "nope"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "COLUMNS": "300"},  # rich wraps at 80 on a pipe
        timeout=120,
    )
    assert done.returncode == 1
    assert f"--import {tmp_path / 'nope'}: no such folder" in done.stdout
    assert not (tmp_path / "s" / "up.json").exists()
