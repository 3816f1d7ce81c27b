"""evaluate_model's use case on the fakes (objects, claims, Slack, clock) and the embedded registry."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from handlers import evaluate_model
from shared.adapters.sqlite_registry import SqliteRegistryStore
from shared.errors import ConfigError, TransientError
from shared.outcome import Status
from shared.payloads.storage import StorageObjectEvent
from tests.support.fakes import (
    FakeClock,
    FakeIdempotencyStore,
    FakeNotifier,
    FakeObjectStore,
    FakeSettings,
    finalized_event,
)

BUCKET = "ml-models-dev"


@dataclass
class GateDeps:
    registry: SqliteRegistryStore
    settings: FakeSettings = field(default_factory=FakeSettings)
    objects: FakeObjectStore = field(default_factory=FakeObjectStore)
    idempotency: FakeIdempotencyStore = field(default_factory=FakeIdempotencyStore)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)
    clock: FakeClock = field(default_factory=FakeClock)


@pytest.fixture
def deps(tmp_path) -> GateDeps:
    return GateDeps(registry=SqliteRegistryStore(tmp_path / "registry.sqlite"))


def upload(deps: GateDeps, name: str, content: bytes | dict, *, bucket: str = BUCKET) -> StorageObjectEvent:
    """Put the object and return the finalize event GCS sends for it."""
    data = json.dumps(content).encode() if isinstance(content, dict) else content
    stored = deps.objects.put(bucket, name, data)
    return finalized_event(bucket, name, stored.generation, len(data))


def aliases(deps: GateDeps, model: str = "fraud", env: str = "dev") -> dict[str, int]:
    return {a.alias: a.version for a in deps.registry.aliases(model, env)}


def table_of(post: dict) -> str:
    return next(b["text"]["text"] for b in post["blocks"] if b.get("text", {}).get("text", "").startswith("```"))


def test_the_first_passing_version_becomes_candidate_and_in_dev_champion(deps):
    # GIVEN no champion yet, WHEN v1's metrics land
    outcome = evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", {"auc": 0.91}), deps)

    # THEN it passes with no baseline and both aliases point at it, moved by the gate
    assert outcome.status is Status.APPLIED
    assert "passed the quality gate against no champion: candidate -> v1, champion -> v1" in outcome.detail
    assert aliases(deps) == {"candidate": 1, "champion": 1}
    assert {m.moved_by for m in deps.registry.alias_history("fraud", "dev")} == {"evaluate_model"}
    # AND the decision is recorded, the metrics file registered as a file of v1
    (decision,) = deps.registry.decisions("fraud", "dev")
    assert (decision.version, decision.passed, decision.champion_version) == (1, True, None)
    assert [r["path"] for r in deps.registry.artifacts("fraud", "dev")] == ["metrics.json"]


def test_a_better_version_passes_against_the_champion_and_is_promoted_in_dev(deps):
    evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", {"auc": 0.91, "log_loss": 0.30}), deps)

    outcome = evaluate_model.handle(upload(deps, "fraud/v2/metrics.json", {"auc": 0.93, "log_loss": 0.29}), deps)

    assert "v2 (dev) passed the quality gate against champion v1" in outcome.detail
    assert aliases(deps) == {"candidate": 2, "champion": 2}
    table = table_of(deps.notifier.posts[-1])
    assert "auc" in table and "0.91" in table and "0.93" in table and "better" in table


def test_a_version_worse_past_the_tolerance_fails_and_moves_nothing(deps):
    evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", {"auc": 0.93}), deps)

    outcome = evaluate_model.handle(upload(deps, "fraud/v2/metrics.json", {"auc": 0.90}), deps)

    assert outcome.status is Status.APPLIED and outcome.extra["passed"] is False
    assert "v2 (dev) failed the quality gate against champion v1: no alias moved" in outcome.detail
    assert aliases(deps) == {"candidate": 1, "champion": 1}
    assert [d.passed for d in deps.registry.decisions("fraud", "dev")] == [True, False]
    post = deps.notifier.posts[-1]
    assert "failed" in post["text"] and "worse" in table_of(post)


def test_outside_auto_promote_a_passing_version_becomes_candidate_only(deps):
    # GIVEN staging, whose policy does not auto-promote, with v1 made champion by hand
    evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", {"auc": 0.91}, bucket="ml-models-staging"), deps)
    deps.registry.set_alias("fraud", "staging", "champion", 1, by="alice", at=deps.clock())

    outcome = evaluate_model.handle(
        upload(deps, "fraud/v2/metrics.json", {"auc": 0.95}, bucket="ml-models-staging"), deps
    )

    assert "passed the quality gate against champion v1: candidate -> v2." not in outcome.detail
    assert outcome.detail.endswith("candidate -> v2")
    assert aliases(deps, env="staging") == {"candidate": 2, "champion": 1}


def test_the_champions_metrics_are_read_at_the_generation_the_registry_recorded(deps):
    evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", {"auc": 0.93}), deps)
    recorded = deps.objects.objects[(BUCKET, "fraud/v1/metrics.json")][0].generation

    evaluate_model.handle(upload(deps, "fraud/v2/metrics.json", {"auc": 0.935}), deps)

    assert (BUCKET, "fraud/v1/metrics.json", recorded) in deps.objects.reads


def test_unreadable_champion_metrics_fail_closed(deps):
    evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", {"auc": 0.93}), deps)
    del deps.objects.objects[(BUCKET, "fraud/v1/metrics.json")]  # gone from the bucket, still champion

    outcome = evaluate_model.handle(upload(deps, "fraud/v2/metrics.json", {"auc": 0.99}), deps)

    assert "failed" in outcome.detail and "champion v1's metrics.json: is missing" in outcome.detail
    assert aliases(deps) == {"candidate": 1, "champion": 1}


def test_a_redelivery_of_the_same_generation_is_a_duplicate(deps):
    event = upload(deps, "fraud/v1/metrics.json", {"auc": 0.91})
    evaluate_model.handle(event, deps)

    again = evaluate_model.handle(event, deps)

    assert again.status is Status.DUPLICATE and "already evaluated" in again.detail
    assert len(deps.notifier.posts) == 1


def test_a_second_upload_of_the_same_metrics_is_a_duplicate(deps):
    evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", {"auc": 0.91, "note": "x"}), deps)

    # a new generation, the same numbers (key order and notes aside)
    again = evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", b'{"note": "y", "auc": 0.91}'), deps)

    assert again.status is Status.DUPLICATE and "the same metrics were evaluated already" in again.detail
    assert len(deps.notifier.posts) == 1
    # AND the new generation carries the earlier decision (so reconcile's sweep finds it decided), moving nothing
    first, second = deps.registry.decisions("fraud", "dev")
    assert (second.passed, second.champion_version, second.comparisons) == (
        first.passed,
        first.champion_version,
        first.comparisons,
    )
    assert second.record_key.endswith(f"#{again_generation(deps)}") and "generation" in second.reason
    assert [m.version for m in deps.registry.alias_history("fraud", "dev")] == [1, 1]  # candidate, champion once


def again_generation(deps) -> int:
    return deps.objects.objects[(BUCKET, "fraud/v1/metrics.json")][0].generation


def test_a_late_decision_on_an_older_version_never_moves_an_alias_back(deps):
    # GIVEN v2 passed and is candidate and champion in dev, then v1's delayed event arrives
    late = upload(deps, "fraud/v1/metrics.json", {"auc": 0.92})
    evaluate_model.handle(upload(deps, "fraud/v2/metrics.json", {"auc": 0.91}), deps)

    # WHEN v1 is evaluated (against champion v2: within tolerance, so it passes)
    outcome = evaluate_model.handle(late, deps)

    # THEN its decision is recorded and posted, but no alias goes back to v1
    assert outcome.status is Status.APPLIED and "no alias moved" in outcome.detail
    assert aliases(deps) == {"candidate": 2, "champion": 2}
    assert [(d.version, d.passed, d.champion_version) for d in deps.registry.decisions("fraud", "dev")] == [
        (1, True, 2),
        (2, True, None),
    ]
    assert len(deps.notifier.posts) == 2


def test_a_failed_slack_post_is_retried_with_the_recorded_decision(deps):
    evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", {"auc": 0.91}), deps)
    event = upload(deps, "fraud/v2/metrics.json", {"auc": 0.95})
    deps.notifier.failures = 1

    with pytest.raises(TransientError):
        evaluate_model.handle(event, deps)
    # the aliases moved before the post failed: the redelivery must not compare v2 with itself
    retried = evaluate_model.handle(event, deps)

    assert "passed the quality gate against champion v1: candidate -> v2, champion -> v2" in retried.detail
    assert len(deps.registry.decisions("fraud", "dev")) == 2 and len(deps.notifier.posts) == 2


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"not json", "metrics.json: is not valid JSON"),
        (b"[0.9]", "metrics.json: expected a JSON object"),
        (b'{"auc": NaN}', "metrics.json.auc: is NaN"),
        (b'{"accuracy": 0.9}', "metrics.json.auc: is missing"),
    ],
)
def test_a_malformed_metrics_file_is_rejected_naming_the_field_and_changes_nothing(deps, content, field):
    from shared.errors import EventParseError

    with pytest.raises(EventParseError, match=field.replace(".", r"\.")):
        evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", content), deps)
    assert aliases(deps) == {} and deps.registry.decisions("fraud") == [] and deps.notifier.posts == []
    assert deps.idempotency.entries == {}  # released: a fixed upload is a new generation anyway


@pytest.mark.parametrize(
    "name", ["fraud/v1/model.safetensors", "fraud/v1/eval/metrics.json", "fraud/README.md", "fraud/v1/"]
)
def test_other_objects_are_ignored_without_a_read(deps, name):
    outcome = evaluate_model.handle(upload(deps, name, b"x"), deps)
    assert outcome.status is Status.IGNORED
    assert deps.objects.reads == [] and deps.idempotency.entries == {}


def test_a_bad_policy_is_a_configuration_error_not_a_rejection(deps):
    deps.settings.gate_policy = '{"metrics": {"auc": {"direction": "up"}}}'
    with pytest.raises(ConfigError, match="direction"):
        evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", {"auc": 0.9}), deps)


def test_hostile_metric_and_model_names_are_escaped_in_slack(deps):
    deps.settings.gate_policy = json.dumps({"metrics": {"<!channel> auc": {"direction": "higher"}}})
    evaluate_model.handle(upload(deps, "fraud/v1/metrics.json", {"<!channel> auc": 0.9}), deps)
    post = json.dumps(deps.notifier.posts[-1])
    assert "<!channel>" not in post and "&lt;!channel&gt;" in post
