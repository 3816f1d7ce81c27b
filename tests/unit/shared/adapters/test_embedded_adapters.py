"""The embedded profile's adapters: SQLite registry and idempotency, local-folder object store."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.adapters.local_object_store import LocalObjectStore
from shared.adapters.sqlite_idempotency import SqliteIdempotencyStore
from shared.adapters.sqlite_registry import SqliteRegistryStore
from shared.artifact_format import ArtifactFormat
from shared.errors import AlreadyInProgressError
from shared.model_registry import ModelArtifact, ObjectRef

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
FORMAT = ArtifactFormat("onnx", False, "test", True)


def artifact(model="fraud", version=1, name=None, generation=1, env="dev") -> ModelArtifact:
    name = name or f"{model}/v{version}/model.onnx"
    return ModelArtifact(
        env,
        model,
        version,
        name.split("/", 2)[2],
        ObjectRef(f"ml-models-{env}", name, generation),
        FORMAT,
        NOW,
        f"evt-{generation}",
        metadata={"git_sha": "abc"},
    )


@pytest.fixture
def registry(tmp_path) -> SqliteRegistryStore:
    return SqliteRegistryStore(tmp_path / "registry.sqlite")


def test_record_is_idempotent_on_the_record_key(registry):
    assert registry.record(artifact()).created is True
    assert registry.record(artifact()).created is False
    [row] = registry.artifacts("fraud")
    assert row["metadata"] == {"git_sha": "abc"}


def test_latest_is_the_highest_live_version_whatever_the_order(registry):
    registry.record(artifact(version=3, generation=30))
    assert registry.record(artifact(version=2, generation=20)).latest_version == 3
    deleted = registry.mark_deleted(ObjectRef("ml-models-dev", "fraud/v3/model.onnx", 30), NOW)
    assert (deleted.found, deleted.latest_version) == (True, 2)
    assert registry.mark_deleted(ObjectRef("ml-models-dev", "fraud/v9/model.onnx", 1), NOW).found is False


def test_an_older_generation_arriving_late_is_recorded_as_superseded(registry):
    registry.record(artifact(generation=2))
    registry.record(artifact(generation=1))
    rows = registry.artifacts("fraud")
    assert [(r["generation"], r["superseded_by_generation"]) for r in rows] == [(1, 2), (2, None)]


def test_envs_are_kept_apart(registry):
    registry.record(artifact(version=4, env="prod"))
    registry.record(artifact(version=1, env="dev"))
    assert {(m.env, m.latest_version) for m in registry.list_models()} == {("prod", 4), ("dev", 1)}
    assert [m.env for m in registry.list_models("prod")] == ["prod"]
    assert registry.known_keys("ml-models-prod") == {"ml-models-prod/fraud/v4/model.onnx#1"}


def test_claim_complete_duplicate_and_expiry(tmp_path):
    store = SqliteIdempotencyStore(tmp_path / "idem.sqlite")
    assert store.claim("k", now=NOW, expires_in_s=60) is None
    with pytest.raises(AlreadyInProgressError):
        store.claim("k", now=NOW + timedelta(seconds=30), expires_in_s=60)
    assert store.claim("k", now=NOW + timedelta(seconds=61), expires_in_s=60) is None  # the crashed claim expired
    store.complete("k", {"version": 3}, now=NOW)
    assert store.claim("k", now=NOW, expires_in_s=60) == {"version": 3}
    store.release("k")  # a completed key is never released
    assert store.claim("k", now=NOW, expires_in_s=60) == {"version": 3}


def _claim_in_process(path: str, results) -> None:
    store = SqliteIdempotencyStore(Path(path))
    try:
        results.put("won" if store.claim("race", now=NOW, expires_in_s=60) is None else "done")
    except AlreadyInProgressError:
        results.put("busy")


def test_eight_processes_racing_on_one_key_leave_one_winner(tmp_path):
    # Functions scale out as processes: the lock must hold across them, not only across threads.
    path = str(tmp_path / "idem.sqlite")
    SqliteIdempotencyStore(Path(path))
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_claim_in_process, args=(path, results)) for _ in range(8)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(60)
    outcomes = sorted(results.get(timeout=5) for _ in processes)
    assert outcomes.count("won") == 1 and outcomes.count("busy") == 7


def test_eight_threads_racing_on_one_key_leave_one_winner(tmp_path):
    store = SqliteIdempotencyStore(tmp_path / "idem.sqlite")
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        try:
            outcomes.append("won" if store.claim("race", now=NOW, expires_in_s=60) is None else "done")
        except AlreadyInProgressError:
            outcomes.append("busy")

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["busy"] * 7 + ["won"]


def test_local_object_store_keeps_gcs_semantics(tmp_path):
    store = LocalObjectStore(tmp_path)
    first = store.put("ml-models-dev", "m/v1/model.onnx", b"\x08\x08abc", metadata={"uploader": "me"})
    second = store.put("ml-models-dev", "m/v1/model.onnx", b"\x08\x08abcd")
    assert second.generation > first.generation
    assert store.read_head("ml-models-dev", "m/v1/model.onnx", second.generation, 2) == b"\x08\x08"
    assert store.read_head("ml-models-dev", "m/v1/model.onnx", first.generation, 2) is None  # overwritten
    assert store.read_head("ml-models-dev", "m/v9/model.onnx", None, 2) is None
    [listed] = store.list_objects("ml-models-dev")
    assert (listed.size, listed.md5_hash) == (6, second.md5_hash)
    assert store.list_buckets() == ["ml-models-dev"]
    with pytest.raises(ValueError, match="escapes"):
        store.put("ml-models-dev", "../../etc/x", b"")


def test_checksums_match_what_gcs_reports():
    from shared.adapters.gcs_checksums import gcs_crc32c, gcs_md5

    # Reference values: `gsutil hash` of the bytes b"hello world".
    assert gcs_md5(b"hello world") == "XrY7u+Ae7tCTyyK7j1rNww=="
    assert gcs_crc32c(b"hello world") == "yZRlqg=="
