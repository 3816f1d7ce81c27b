"""FirestoreRegistryStore against the Firestore emulator: the registry contract plus its document layout."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.firestore_idempotency import doc_id
from shared.adapters.firestore_registry import FirestoreRegistryStore
from shared.adapters.sqlite_registry import SqliteRegistryStore
from tests.integration.conftest import T0, firestore_rest
from tests.support.registry_contract import AliasContract, MakeArtifact, RegistryContract

pytestmark = pytest.mark.integration


class TestFirestoreRegistry(RegistryContract, AliasContract):
    @pytest.fixture
    def store(self, firestore_db: Any) -> FirestoreRegistryStore:
        return FirestoreRegistryStore(firestore_rest(firestore_db), "models")


class TestSqliteReference(RegistryContract, AliasContract):
    """The embedded store passes the same contract: the contract says what the reference does."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> SqliteRegistryStore:
        return SqliteRegistryStore(tmp_path / "registry.sqlite")


@pytest.fixture
def store(firestore_db: Any) -> FirestoreRegistryStore:
    return FirestoreRegistryStore(firestore_rest(firestore_db), "models")


def test_latest_pointer_documents(
    store: FirestoreRegistryStore, firestore_db: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN resnet v2 in dev and v1 in prod
    store.record(make_artifact(env="dev", version=2, generation=1))
    store.record(make_artifact(env="prod", version=1, generation=2))

    # WHEN the pointer documents are read
    env_doc = firestore_db.document("models/resnet/envs/dev").get().to_dict()
    model_doc = firestore_db.document("models/resnet").get().to_dict()

    # THEN each env has its pointer, in its own document and in the model document
    assert env_doc == {"env": "dev", "model": "resnet", "latest_version": 2, "updated_at": T0.isoformat()}
    assert model_doc["latest"] == {
        "dev": {"version": 2, "updated_at": T0.isoformat()},
        "prod": {"version": 1, "updated_at": T0.isoformat()},
    }


def test_deletion_moves_the_pointer(
    store: FirestoreRegistryStore, firestore_db: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN v1 and v2 in dev
    store.record(make_artifact(version=1, generation=1))
    v2 = make_artifact(version=2, generation=2)
    store.record(v2)

    # WHEN v2's only file is deleted
    store.mark_deleted(v2.ref, T0 + timedelta(hours=1))

    # THEN the pointer says 1, as of the deletion
    env_doc = firestore_db.document("models/resnet/envs/dev").get().to_dict()
    assert env_doc["latest_version"] == 1
    assert env_doc["updated_at"] == (T0 + timedelta(hours=1)).isoformat()


def test_rows_are_documents_keyed_by_a_hash_of_the_record_key(
    store: FirestoreRegistryStore, firestore_db: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN the same version in two envs
    dev = make_artifact(env="dev", version=3, generation=1, metadata={"k": "v"})
    prod = make_artifact(env="prod", version=3, generation=2)
    store.record(dev)
    store.record(prod)

    # WHEN the model's rows and the key lookups are read
    rows = {s.id: s.to_dict() for s in firestore_db.collection("models/resnet/artifacts").stream()}
    lookups = [s.to_dict() for s in firestore_db.collection("models_keys").stream()]

    # THEN each row is its own document under a hash of its key, carrying its env and metadata as a map
    assert rows[doc_id(dev.record_key)]["env"] == "dev"
    assert rows[doc_id(dev.record_key)]["metadata"] == {"k": "v"}
    assert rows[doc_id(prod.record_key)]["env"] == "prod"
    # AND each key finds its model without knowing it
    assert {"record_key": dev.record_key, "bucket": "ml-models-dev", "env": "dev", "model": "resnet", "version": 3} in (
        lookups
    )


def test_the_version_document_mirrors_its_files(
    store: FirestoreRegistryStore, firestore_db: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN v1 uploaded, uploaded again (a new generation), a second file, then the config deleted
    first = make_artifact(version=1, generation=1)
    again = make_artifact(version=1, generation=2)
    config = make_artifact(version=1, path="config.json", generation=3)
    for artifact in (first, again, config):
        store.record(artifact)
    store.mark_deleted(config.ref, T0 + timedelta(hours=1))

    # WHEN users browse models/{model}/versions/{N}
    files = firestore_db.document("models/resnet/versions/1").get().get("files")

    # THEN each file version is there, with the same flags as its row
    by_generation = {f["generation"]: f for f in files.values()}
    assert by_generation[1]["superseded_by_generation"] == 2
    assert by_generation[2]["superseded_by_generation"] is None and by_generation[2]["deleted_at"] is None
    assert by_generation[3]["deleted_at"] == (T0 + timedelta(hours=1)).isoformat()
    rows = {s.id: s.to_dict() for s in firestore_db.collection("models/resnet/artifacts").stream()}
    assert files == rows


def test_a_crash_after_the_row_write_heals_on_redelivery(
    store: FirestoreRegistryStore, firestore_db: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN v1 registered, then a v2 row written by a delivery that crashed before moving the pointer
    store.record(make_artifact(version=1, generation=1))
    v2 = make_artifact(version=2, generation=2)
    row = v2.to_row() | {"metadata": dict(v2.metadata)}
    firestore_db.document(f"models/resnet/artifacts/{doc_id(v2.record_key)}").create(row)
    assert firestore_db.document("models/resnet/envs/dev").get().get("latest_version") == 1

    # WHEN the event is redelivered
    result = store.record(v2)

    # THEN the row is not duplicated, and the pointer catches up
    assert (result.created, result.latest_version) == (False, 2)
    assert firestore_db.document("models/resnet/envs/dev").get().get("latest_version") == 2
    assert len(store.artifacts("resnet")) == 2


def recording(firestore_db: Any, artifact: Any) -> Callable[[], Any]:
    """A delivery's own store (its own connections) recording one artifact."""
    return lambda: FirestoreRegistryStore(firestore_rest(firestore_db), "models").record(artifact)


def run_together(jobs: list[Callable[[], Any]]) -> list[BaseException]:
    """Every job on its own thread, all released at once (as events of one upload arrive); what they raised."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_concurrent_uploads_of_one_version_all_land(
    store: FirestoreRegistryStore, firestore_db: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN v1 registered, and 6 files of v2 whose events arrive at the same moment
    store.record(make_artifact(version=1, generation=1))
    artifacts = [make_artifact(version=2, path=f"shard-{i}.safetensors", generation=100 + i) for i in range(6)]
    errors = run_together([recording(firestore_db, a) for a in artifacts])

    # WHEN they have all been recorded
    # THEN no write was lost and the pointer says 2
    assert errors == []
    assert len(store.artifacts("resnet", "dev")) == 7
    assert firestore_db.document("models/resnet/envs/dev").get().get("latest_version") == 2


def test_concurrent_generations_of_one_object_leave_only_the_newest_live(
    store: FirestoreRegistryStore, firestore_db: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN v1 registered, then six overwrites of v2's one file (generations 11..16) and another v2 file, all
    # arriving at the same moment in no particular order
    store.record(make_artifact(version=1, generation=1))
    overwrites = [make_artifact(version=2, generation=g) for g in (14, 11, 16, 12, 15, 13)]
    other = make_artifact(version=2, path="tokenizer.json", generation=20)
    errors = run_together([recording(firestore_db, a) for a in [*overwrites, other]])

    # THEN every generation but the newest points at the newest, in the rows and in the version view alike,
    # and the pointer says 2
    assert errors == []
    rows = {r["generation"]: r for r in store.artifacts("resnet", "dev") if r["path"] == "model.safetensors"}
    assert {g: r["superseded_by_generation"] for g, r in rows.items()} == {
        1: None, 11: 16, 12: 16, 13: 16, 14: 16, 15: 16, 16: None
    }  # fmt: skip
    view = firestore_db.document("models/resnet/versions/2").get().to_dict()["files"]
    assert sorted((f["generation"], f["superseded_by_generation"]) for f in view.values()) == [
        (11, 16), (12, 16), (13, 16), (14, 16), (15, 16), (16, None), (20, None)
    ]  # fmt: skip
    assert firestore_db.document("models/resnet/envs/dev").get().get("latest_version") == 2


def test_concurrent_uploads_and_deletes_leave_the_pointer_right(
    store: FirestoreRegistryStore, firestore_db: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN v3 registered with one file, and at the same moment: its deletion plus uploads to v1 and v2
    v3 = make_artifact(version=3, generation=3)
    store.record(v3)
    uploads = [make_artifact(version=v, path=f"f{i}.bin", generation=10 * v + i) for v in (1, 2) for i in range(3)]
    jobs = [recording(firestore_db, a) for a in uploads]
    jobs.append(
        lambda: FirestoreRegistryStore(firestore_rest(firestore_db), "models").mark_deleted(
            v3.ref, T0 + timedelta(hours=1)
        )
    )
    errors = run_together(jobs)

    # WHEN everything has landed
    # THEN the pointer is what the rows say: v3 is gone, so 2
    assert errors == []
    assert firestore_db.document("models/resnet/envs/dev").get().get("latest_version") == 2
    assert store.list_models("dev")[0].latest_version == 2
