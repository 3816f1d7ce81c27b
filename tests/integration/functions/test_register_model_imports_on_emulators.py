"""register_model imports no Google SDK on any of its paths: it reaches Firestore, Cloud Storage and BigQuery
over REST (shared/adapters/google_rest.py), because the first event of an instance pays for every SDK it
imports (benchmarks/cold_start.py). Each case runs in a fresh interpreter, on the emulators profile, through
the real functions-framework app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.adapters.firestore_idempotency import FirestoreIdempotencyStore
from tests.integration.conftest import PROJECT, firestore_rest
from tooling.fixture_factory import storage_cloud_event, storage_object_data

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
# The three clients, and what they stand on (gRPC, api_core, google-auth's transports, requests).
SDKS = (
    "google.cloud.storage",
    "google.cloud.firestore",
    "google.cloud.bigquery",
    "grpc",
    "google.api_core",
    "google.auth.transport.requests",
    "requests",
)
DELIVER = """
import json, sys
from functions_framework import create_app
app = create_app("register_model", "functions/register_model.py", "cloudevent")
answer = app.test_client().post("/", data=sys.stdin.read(), headers={"Content-Type": "application/cloudevents+json"})
print(json.dumps({"status": answer.status_code, "modules": sorted(sys.modules)}))
"""


def deliver_in_a_fresh_process(event: dict, env: dict[str, str]) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", DELIVER],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **env},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["status"], {sdk for sdk in SDKS if sdk in answer["modules"]}


def finalized(bucket: str, name: str) -> dict:
    data = storage_object_data(bucket, name, generation=1700000000000001, size=32, time_created=datetime.now(UTC))
    return storage_cloud_event("google.cloud.storage.object.v1.finalized", data, event_id=uuid.uuid4().hex)


@pytest.fixture
def emulators_env(firestore_db, tmp_path) -> dict[str, str]:
    return {
        "MLOPS_EVENTS_PROFILE": "emulators",
        "MLOPS_EVENTS_GCP_PROJECT": PROJECT,
        "MLOPS_EVENTS_STATE_DIR": str(tmp_path),
        "MLOPS_EVENTS_BIGQUERY_ENDPOINT": "http://127.0.0.1:9",  # never reached by these paths
        "FIRESTORE_EMULATOR_HOST": os.environ["FIRESTORE_EMULATOR_HOST"],
    }


def test_an_ignored_event_imports_no_google_client(emulators_env):
    # GIVEN an object in a models bucket that is no model artifact WHEN its event is delivered
    status, imported = deliver_in_a_fresh_process(finalized("ml-models-dev", "README.md"), emulators_env)

    # THEN it is acknowledged without importing any of the three clients
    assert (status, imported) == (200, set())


def test_a_duplicate_imports_no_google_client(emulators_env, firestore_db):
    # GIVEN an event whose registration is already complete in the idempotency store
    event = finalized("ml-models-dev", "fraud/v2/model.onnx")
    key = f"finalized:ml-models-dev/fraud/v2/model.onnx#{event['data']['generation']}"
    store = FirestoreIdempotencyStore(firestore_rest(firestore_db), "idempotency")
    now = datetime.now(UTC)
    assert store.claim(key, now=now, expires_in_s=60) is None
    store.complete(key, {"model": "fraud", "version": 2}, now=now)

    # WHEN it is delivered again
    status, imported = deliver_in_a_fresh_process(event, emulators_env)

    # THEN the claim answered it, over Firestore's REST API: no SDK imported
    assert (status, imported) == (200, set())


def test_a_registration_imports_no_google_client(registry_on_emulators, gcs_emulator, bigquery_emulator):
    # GIVEN a model file uploaded to the env's models bucket
    bucket = registry_on_emulators["bucket"]
    blob = bucket.blob("fraud/v1/model.safetensors")
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    blob.upload_from_string(len(header).to_bytes(8, "little") + header + b"\x00\x00\x80\x3f")
    data = storage_object_data(
        bucket.name, blob.name, generation=blob.generation, size=blob.size, time_created=blob.time_created
    )
    event = storage_cloud_event("google.cloud.storage.object.v1.finalized", data, event_id=uuid.uuid4().hex)
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith("MLOPS_EVENTS_")},
        "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"],
        "FIRESTORE_EMULATOR_HOST": os.environ["FIRESTORE_EMULATOR_HOST"],
    }

    # WHEN its event is delivered to a fresh instance
    status, imported = deliver_in_a_fresh_process(event, env)

    # THEN it is registered in both stores (the head read from GCS, the claim and the registry in Firestore,
    # the append in BigQuery) with none of the SDKs imported
    assert (status, imported) == (200, set())
    table = registry_on_emulators["table"]
    assert [r["path"] for r in table.artifacts("fraud")] == ["model.safetensors"]
    assert [r["format"] for r in table.artifacts("fraud")] == ["safetensors"]
