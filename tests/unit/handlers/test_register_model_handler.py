"""register_model's use case against in-memory fakes of its ports."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from handlers import register_model
from shared.errors import AlreadyInProgressError
from shared.outcome import Status
from shared.payloads.storage import StorageChange, StorageObjectEvent
from tests.support.fakes import FakeDeps, finalized_event

SAFETENSORS = struct.pack("<Q", 16) + b'{"__metadata__":{}}'[:16] + b"\x00" * 8


def finalized(name: str, generation: int = 1, bucket: str = "ml-models-dev", **kw) -> StorageObjectEvent:
    return finalized_event(bucket, name, generation, 24, **kw)


@pytest.fixture
def deps() -> FakeDeps:
    return FakeDeps()


def test_finalized_model_file_is_registered_with_its_detected_format(deps):
    # GIVEN a safetensors file in the dev model bucket
    deps.objects.put("ml-models-dev", "fraud/v3/model.safetensors", b"\x08" + b"\x00" * 7 + b"{}", generation=7)
    event = finalized("fraud/v3/model.safetensors", generation=7, metadata={"uploader": "ci-bot", "git_sha": "abc"})

    # WHEN the finalize event is handled
    outcome = register_model.handle(event, deps)

    # THEN one row records model, version, env, format and the uploader from the metadata
    assert outcome.status is Status.APPLIED
    [row] = deps.registry.rows.values()
    assert (row["env"], row["model"], row["version"], row["path"]) == ("dev", "fraud", 3, "model.safetensors")
    assert row["record_key"] == "ml-models-dev/fraud/v3/model.safetensors#7"
    assert row["uploader"] == "ci-bot"
    assert row["format"] == "safetensors"
    assert deps.objects.reads == [("ml-models-dev", "fraud/v3/model.safetensors", 7)]


def test_redelivery_is_a_duplicate_and_writes_nothing_more(deps):
    event = finalized("fraud/v1/model.onnx")
    assert register_model.handle(event, deps).status is Status.APPLIED
    again = register_model.handle(event, deps)
    assert again.status is Status.DUPLICATE
    assert len(deps.registry.rows) == 1
    assert len(deps.objects.reads) == 1  # the duplicate never touched the bucket


@pytest.mark.parametrize(
    ("name", "bucket", "reason"),
    [
        ("fraud/v1/", "ml-models-dev", "folder placeholder"),
        ("fraud/model.onnx", "ml-models-dev", "outside"),
        ("fraud/latest/model.onnx", "ml-models-dev", "not a version folder"),
        ("fraud/v1/model.onnx.tmp", "ml-models-dev", "temporary"),
        ("fraud/v1/_SUCCESS", "ml-models-dev", "temporary"),
        ("fraud/v1/model.onnx", "training-data-dev", "does not match"),
    ],
)
def test_objects_that_are_not_model_artifacts_are_ignored_with_the_reason(deps, name, bucket, reason):
    outcome = register_model.handle(finalized(name, bucket=bucket), deps)
    assert outcome.status is Status.IGNORED
    assert reason in outcome.detail
    assert deps.registry.rows == {}
    assert deps.idempotency.entries == {}


def test_latest_only_moves_forward_when_v2_arrives_after_v3(deps):
    register_model.handle(finalized("fraud/v3/model.onnx", generation=30), deps)
    late = register_model.handle(finalized("fraud/v2/model.onnx", generation=20), deps)
    assert late.status is Status.APPLIED
    assert "latest is v3" in late.detail
    assert deps.registry.list_models()[0].latest_version == 3


def test_reupload_supersedes_the_older_generation(deps):
    register_model.handle(finalized("fraud/v1/model.onnx", generation=1), deps)
    register_model.handle(finalized("fraud/v1/model.onnx", generation=2), deps)
    rows = deps.registry.artifacts("fraud")
    assert [(r["generation"], r["superseded_by_generation"]) for r in rows] == [(1, 2), (2, None)]


def test_deleted_marks_the_version_deleted_without_erasing_it(deps):
    register_model.handle(finalized("fraud/v1/model.onnx", generation=1), deps)
    register_model.handle(finalized("fraud/v2/model.onnx", generation=5), deps)
    deleted = replace(finalized("fraud/v2/model.onnx", generation=5), change=StorageChange.DELETED)

    outcome = register_model.handle(deleted, deps)

    assert outcome.status is Status.APPLIED
    assert "latest is v1" in outcome.detail
    rows = deps.registry.artifacts("fraud")
    assert len(rows) == 2 and rows[1]["deleted_at"] is not None
    assert register_model.handle(deleted, deps).status is Status.DUPLICATE


def test_archived_on_a_versioned_bucket_takes_the_version_out_of_latest(deps):
    # GIVEN v1 and v2 registered in a versioned bucket
    register_model.handle(finalized("fraud/v1/model.onnx", generation=1), deps)
    register_model.handle(finalized("fraud/v2/model.onnx", generation=5), deps)
    archived = replace(finalized("fraud/v2/model.onnx", generation=5), change=StorageChange.ARCHIVED)

    # WHEN v2's live object is deleted there: GCS keeps it as noncurrent and sends `archived`
    outcome = register_model.handle(archived, deps)

    # THEN it is no longer live: latest goes back to v1, the row is kept
    assert outcome.status is Status.APPLIED
    assert "archived" in outcome.detail and "latest is v1" in outcome.detail
    assert deps.registry.list_models()[0].latest_version == 1
    assert deps.registry.artifacts("fraud")[1]["deleted_at"] is not None
    # and the `deleted` that comes when the noncurrent version is removed later changes nothing
    deleted = replace(archived, change=StorageChange.DELETED)
    assert register_model.handle(deleted, deps).status is Status.DUPLICATE
    assert register_model.handle(archived, deps).status is Status.DUPLICATE


def test_archived_older_generation_leaves_the_live_one_latest(deps):
    register_model.handle(finalized("fraud/v2/model.onnx", generation=5), deps)
    register_model.handle(finalized("fraud/v2/model.onnx", generation=6), deps)  # an overwrite
    archived = replace(finalized("fraud/v2/model.onnx", generation=5), change=StorageChange.ARCHIVED)
    outcome = register_model.handle(archived, deps)
    assert outcome.status is Status.APPLIED and "latest is v2" in outcome.detail
    assert deps.registry.list_models()[0].latest_version == 2


def test_delete_of_an_unregistered_object_is_ignored(deps):
    deleted = replace(finalized("fraud/v9/model.onnx"), change=StorageChange.DELETED)
    assert register_model.handle(deleted, deps).status is Status.IGNORED


def test_a_failing_registry_releases_the_claim_so_the_redelivery_can_succeed(deps):
    event = finalized("fraud/v1/model.onnx")
    original = deps.registry.record
    deps.registry.record = lambda artifact: (_ for _ in ()).throw(ConnectionError("registry down"))
    with pytest.raises(ConnectionError):
        register_model.handle(event, deps)
    deps.registry.record = original
    assert register_model.handle(event, deps).status is Status.APPLIED


def test_a_claim_held_by_another_delivery_is_transient_until_it_expires(deps):
    key = "finalized:ml-models-dev/fraud/v1/model.onnx#1"
    deps.idempotency.claim(key, now=deps.clock(), expires_in_s=60)  # a delivery that crashed mid-way
    with pytest.raises(AlreadyInProgressError):
        register_model.handle(finalized("fraud/v1/model.onnx"), deps)
    deps.clock.advance(61)
    assert register_model.handle(finalized("fraud/v1/model.onnx"), deps).status is Status.APPLIED


def test_a_custom_bucket_pattern_yields_the_env(deps):
    deps.settings.bucket_pattern = "acme-{env}-models"
    outcome = register_model.handle(finalized("fraud/v1/model.onnx", bucket="acme-prod-models"), deps)
    assert outcome.status is Status.APPLIED
    assert next(iter(deps.registry.rows.values()))["env"] == "prod"


def test_an_unreadable_object_is_registered_with_the_format_from_its_name(deps):
    outcome = register_model.handle(finalized("fraud/v1/model.pkl"), deps)  # nothing in the fake bucket
    row = next(iter(deps.registry.rows.values()))
    assert outcome.status is Status.APPLIED
    assert (row["format"], row["format_unsafe"]) == ("pickle", True)
    assert "file name only" in row["format_detail"]
