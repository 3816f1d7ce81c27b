"""reconcile_registry heals what lost events left out, through the same claim as the event path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handlers import reconcile_registry, register_model
from shared.errors import EventParseError
from shared.outcome import Status
from shared.payloads.scheduler import ScheduledRun
from shared.payloads.storage import StorageChange, StorageObjectEvent
from tests.support.fakes import FakeDeps

RUN = ScheduledRun("run-1", "reconcile-registry", datetime(2026, 11, 3, 3, 17, tzinfo=UTC), {})


@pytest.fixture
def deps() -> FakeDeps:
    deps = FakeDeps()
    deps.objects.put("ml-models-dev", "fraud/v1/model.onnx", b"\x08\x08onnx", generation=11)
    deps.objects.put("ml-models-dev", "fraud/v2/model.onnx", b"\x08\x08onnx", generation=22)
    deps.objects.put("ml-models-dev", "fraud/README.md", b"# notes", generation=33)
    deps.objects.put("ml-datasets-dev", "fraud/v1/train.parquet", b"PAR1", generation=44)
    return deps


def test_registers_only_the_model_objects_the_registry_misses(deps):
    # GIVEN v1 was registered by its event and v2's event was lost
    event = StorageObjectEvent("e1", StorageChange.FINALIZED, None, "ml-models-dev", "fraud/v1/model.onnx", 11)
    register_model.handle(event, deps)

    # WHEN the daily run lists the buckets
    outcome = reconcile_registry.handle(RUN, deps)

    # THEN v2 is registered, by reconcile, and nothing else is touched
    assert outcome.status is Status.APPLIED
    assert outcome.extra["healed"] == ["ml-models-dev/fraud/v2/model.onnx#22"]
    assert outcome.extra["vanished"] == []
    rows = deps.registry.artifacts("fraud")
    assert [(r["version"], r["registered_by"]) for r in rows] == [(1, "event"), (2, "reconcile")]
    assert deps.registry.list_models()[0].latest_version == 2


def test_a_second_run_finds_nothing_to_heal(deps):
    reconcile_registry.handle(RUN, deps)
    again = reconcile_registry.handle(RUN, deps)
    assert again.status is Status.IGNORED
    assert "2 model objects in 1 buckets" in again.detail


def test_named_buckets_must_match_the_model_bucket_pattern(deps):
    bad = ScheduledRun("run-2", "reconcile-registry", None, {"buckets": ["ml-datasets-dev"]})
    with pytest.raises(EventParseError, match=r"message\.data\.buckets"):
        reconcile_registry.handle(bad, deps)
    assert deps.registry.rows == {}


def test_a_registered_object_gone_from_the_bucket_is_marked_deleted(deps):
    # GIVEN v1 and v2 registered, then v2 removed from the bucket with its delete event lost
    reconcile_registry.handle(RUN, deps)
    del deps.objects.objects[("ml-models-dev", "fraud/v2/model.onnx")]

    # WHEN the next daily run lists the buckets
    outcome = reconcile_registry.handle(RUN, deps)

    # THEN v2 is marked deleted (not erased) and latest goes back to v1
    assert outcome.status is Status.APPLIED
    assert outcome.extra["vanished"] == ["ml-models-dev/fraud/v2/model.onnx#22"]
    rows = deps.registry.artifacts("fraud")
    assert [(r["version"], bool(r["deleted_at"])) for r in rows] == [(1, False), (2, True)]
    assert deps.registry.list_models()[0].latest_version == 1
    assert reconcile_registry.handle(RUN, deps).status is Status.IGNORED  # nothing left to heal


def test_an_overwritten_generation_whose_delete_event_was_lost_is_marked_deleted(deps):
    reconcile_registry.handle(RUN, deps)
    deps.objects.put("ml-models-dev", "fraud/v1/model.onnx", b"\x08\x08onnx-2", generation=12)

    outcome = reconcile_registry.handle(RUN, deps)

    assert (outcome.extra["healed"], outcome.extra["vanished"]) == (
        ["ml-models-dev/fraud/v1/model.onnx#12"],
        ["ml-models-dev/fraud/v1/model.onnx#11"],
    )
