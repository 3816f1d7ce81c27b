"""register_model end to end on the emulators profile: fake-gcs-server, Firestore emulator, bqemulator.

The event is delivered through the real functions-framework app, as Eventarc would post it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from tests.integration.conftest import PROJECT
from tests.support.concurrency import deliver_concurrently
from tooling.delivery import delivery_from_document
from tooling.fixture_factory import storage_cloud_event, storage_object_data
from tooling.manifest import function_named
from tooling.replay import Replayer

pytestmark = pytest.mark.integration
HEADER = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
SAFETENSORS = len(HEADER).to_bytes(8, "little") + HEADER + b"\x00\x00\x80\x3f"


@pytest.fixture
def profile(registry_on_emulators):
    return registry_on_emulators


def upload_event(bucket, name: str, content: bytes, **metadata: str) -> dict:
    """Upload for real, then build the event from what the emulator says the object is."""
    blob = bucket.blob(name)
    blob.metadata = metadata or None
    blob.upload_from_string(content, content_type="application/octet-stream")
    blob.reload()
    data = storage_object_data(
        bucket.name,
        name,
        generation=blob.generation,
        content=content,
        metadata=blob.metadata,
        time_created=blob.time_created or datetime.now(UTC),
    )
    return storage_cloud_event("google.cloud.storage.object.v1.finalized", data, event_id=uuid.uuid4().hex)


def bigquery_rows(bigquery_client, dataset: str) -> list[dict]:
    query = f"SELECT record_key, version, format FROM `{PROJECT}.{dataset}.models`"
    return [dict(row) for row in bigquery_client.query(query).result()]


def test_upload_is_registered_in_firestore_and_bigquery(profile, firestore_db, bigquery_client):
    event = upload_event(profile["bucket"], "fraud/v4/model.safetensors", SAFETENSORS, uploader="alice")
    replayer = Replayer()
    spec = function_named("register_model")

    first = replayer.deliver(spec, delivery_from_document(event), label="upload")
    again = replayer.deliver(spec, delivery_from_document(event), label="upload")

    assert (first.outcome, again.outcome) == ("applied", "duplicate"), first.detail
    assert "as safetensors" in first.detail  # the header bytes came from fake-gcs-server
    model_doc = firestore_db.collection("models").document("fraud")
    [file] = model_doc.collection("versions").document("4").get().get("files").values()
    assert (file["path"], file["uploader"], file["env"]) == ("model.safetensors", "alice", profile["env"])
    assert model_doc.collection("envs").document(profile["env"]).get().get("latest_version") == 4
    [row] = bigquery_rows(bigquery_client, profile["dataset"])
    assert (row["version"], row["format"]) == (4, "safetensors")


def test_eight_concurrent_deliveries_of_one_event_leave_exactly_one_registration(profile, bigquery_client):
    # GIVEN one upload, and the platform delivering its event eight times at once
    event = upload_event(profile["bucket"], "ranker/v1/model.safetensors", SAFETENSORS)
    delivery = delivery_from_document(event)
    spec = function_named("register_model")
    statuses = deliver_concurrently(spec, delivery, 8)

    # THEN every delivery was acknowledged or asked for a retry; the retries, when redelivered, are duplicates
    assert len(statuses) == 8 and set(statuses) <= {200, 500}
    for _ in range(statuses.count(500)):
        assert Replayer().deliver(spec, delivery, label="redelivery").outcome == "duplicate"

    # AND exactly one registration exists in each store
    from shared.deps import current_deps

    rows = current_deps().registry.artifacts("ranker", profile["env"])
    assert len(rows) == 1
    assert len(bigquery_rows(bigquery_client, profile["dataset"])) == 1
    print(json.dumps({"statuses": sorted(statuses)}))
