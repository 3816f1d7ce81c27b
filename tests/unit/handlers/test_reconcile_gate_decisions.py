"""reconcile_registry's gate sweep: a metrics.json whose evaluate_model event was lost is decided by the next
daily pass, through evaluate_model's own use case and claims, on the embedded profile's adapters (local
object store, SQLite registry and claims, the Slack outbox)."""

from __future__ import annotations

import json
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import evaluate_model, reconcile_registry
from handlers.register_model import register
from shared.adapters.local_object_store import LocalObjectStore
from shared.adapters.slack_outbox import OutboxSlackNotifier, read_outbox
from shared.adapters.sqlite_idempotency import SqliteIdempotencyStore
from shared.adapters.sqlite_registry import SqliteRegistryStore
from shared.errors import AlreadyInProgressError, PermanentError, TransientError
from shared.model_path import locate_model
from shared.model_registry import UnknownVersionError
from shared.outcome import Status
from shared.payloads.scheduler import ScheduledRun
from shared.payloads.storage import StorageObjectEvent
from tests.support.fakes import FakeClock, FakeSettings, finalized_event

RUN = ScheduledRun("run-1", "reconcile-registry", datetime(2026, 11, 3, 3, 17, tzinfo=UTC), {})
NEXT_RUN = ScheduledRun("run-2", "reconcile-registry", datetime(2026, 11, 4, 3, 17, tzinfo=UTC), {})


@dataclass
class EmbeddedDeps:
    """What `current_deps()` builds on the embedded profile, rooted in one folder."""

    objects: LocalObjectStore
    registry: SqliteRegistryStore
    idempotency: SqliteIdempotencyStore
    notifier: OutboxSlackNotifier
    settings: FakeSettings = field(default_factory=FakeSettings)
    clock: FakeClock = field(default_factory=FakeClock)
    registry_path: Path = Path()

    @classmethod
    def at(cls, root: Path) -> EmbeddedDeps:
        return cls(
            objects=LocalObjectStore(root / "buckets"),
            registry=SqliteRegistryStore(root / "registry.sqlite"),
            idempotency=SqliteIdempotencyStore(root / "idempotency.sqlite"),
            notifier=OutboxSlackNotifier(root / "slack.jsonl"),
            registry_path=root / "registry.sqlite",
        )

    @property
    def posts(self) -> list[dict[str, Any]]:
        return read_outbox(self.notifier.path)


@pytest.fixture
def deps(tmp_path) -> EmbeddedDeps:
    return EmbeddedDeps.at(tmp_path)


def upload(
    deps: EmbeddedDeps, version: int, content: bytes | dict, *, env: str = "dev", generation: int | None = None
) -> StorageObjectEvent:
    """Put fraud/v{version}/metrics.json and return the finalize event GCS sends for it (delivered or not)."""
    data = json.dumps(content).encode() if isinstance(content, dict) else content
    bucket, name = f"ml-models-{env}", f"fraud/v{version}/metrics.json"
    stored = deps.objects.put(bucket, name, data, generation=generation or 1_000 + version)
    return finalized_event(bucket, name, stored.generation, len(data))


def aliases(deps: EmbeddedDeps, env: str = "dev") -> dict[str, int]:
    return {a.alias: a.version for a in deps.registry.aliases("fraud", env)}


def decisions(deps: EmbeddedDeps, env: str = "dev") -> list[tuple[Any, ...]]:
    """The decisions as the gate took them: what was compared and concluded (not when, nor by which event)."""
    return [
        (d.version, d.record_key, d.passed, d.champion_version, d.comparisons, d.reason)
        for d in deps.registry.decisions("fraud", env)
    ]


def test_a_lost_metrics_event_is_decided_by_the_next_reconcile_exactly_once(deps):
    # GIVEN v1 decided by its event (candidate and champion in dev), and v2's event lost
    evaluate_model.handle(upload(deps, 1, {"auc": 0.90}), deps)
    upload(deps, 2, {"auc": 0.93})

    # WHEN the daily pass runs
    outcome = reconcile_registry.handle(RUN, deps)

    # THEN v2 is decided against champion v1, promoted as the event would have, and posted once
    assert outcome.status is Status.APPLIED
    assert "made up 1 missed gate decisions" in outcome.detail
    assert outcome.extra["decided"] == ["ml-models-dev/fraud/v2/metrics.json#1002"]
    assert [(v, passed, champion) for v, _, passed, champion, _, _ in decisions(deps)] == [
        (1, True, None),
        (2, True, 1),
    ]
    (made_up,) = [d for d in deps.registry.decisions("fraud", "dev") if d.version == 2]
    assert made_up.event_id == "reconcile:" + RUN.run_key
    assert aliases(deps) == {"candidate": 2, "champion": 2}
    assert len(deps.posts) == 2 and "fraud v2 (dev) passed" in deps.posts[-1]["text"]

    # AND the next pass does nothing: no decision, no move, no post
    moves = len(deps.registry.alias_history("fraud", "dev"))
    again = reconcile_registry.handle(NEXT_RUN, deps)
    assert again.status is Status.IGNORED and "all registered and gated" in again.detail
    assert len(deps.registry.decisions("fraud", "dev")) == 2
    assert len(deps.registry.alias_history("fraud", "dev")) == moves
    assert len(deps.posts) == 2


def test_a_late_event_after_the_reconcile_is_a_duplicate(deps):
    late = upload(deps, 1, {"auc": 0.90})
    reconcile_registry.handle(RUN, deps)

    outcome = evaluate_model.handle(late, deps)

    assert outcome.status is Status.DUPLICATE
    assert len(deps.registry.decisions("fraud", "dev")) == 1 and len(deps.posts) == 1


def test_env_policy_is_unchanged_outside_dev_the_made_up_decision_moves_candidate_only(deps):
    upload(deps, 1, {"auc": 0.90}, env="staging")

    reconcile_registry.handle(RUN, deps)

    assert aliases(deps, "staging") == {"candidate": 1}


def test_only_the_live_generation_of_a_metrics_file_is_decided(deps):
    # GIVEN v1's metrics uploaded twice, both events lost
    upload(deps, 1, {"auc": 0.80}, generation=1_001)
    upload(deps, 1, {"auc": 0.90}, generation=1_002)

    reconcile_registry.handle(RUN, deps)

    (decision,) = deps.registry.decisions("fraud", "dev")
    assert decision.record_key.endswith("#1002")
    assert decision.comparisons[0]["candidate"] == 0.90


def test_a_same_content_reupload_carries_the_earlier_decision_and_the_sweep_leaves_it(deps):
    evaluate_model.handle(upload(deps, 1, {"auc": 0.90}, generation=1_001), deps)
    evaluate_model.handle(upload(deps, 1, {"auc": 0.90, "note": "again"}, generation=1_002), deps)

    outcome = reconcile_registry.handle(RUN, deps)  # (it marks generation 1001 overwritten: no delete event here)

    assert outcome.extra["decided"] == [] and outcome.extra["rejected"] == []
    assert [key[-4:] for _, key, *_ in decisions(deps)] == ["1001", "1002"]
    assert len(deps.posts) == 1


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"accuracy": 0.9}, "metrics.json.auc"),
        (b"not json", "metrics.json"),
        ({"auc": "high"}, "metrics.json.auc"),
    ],
)
def test_a_bad_metrics_file_does_not_fail_the_reconcile_and_is_recorded_once(deps, content, field):
    # GIVEN v1's metrics are unreadable and v2's fine, both events lost
    upload(deps, 1, content)
    upload(deps, 2, {"auc": 0.91})

    # WHEN the daily pass runs
    outcome = reconcile_registry.handle(RUN, deps)

    # THEN v2 is decided, and v1 recorded as a failed decision naming the field, moving nothing, posting nothing
    assert outcome.status is Status.APPLIED
    assert outcome.extra["rejected"] == ["ml-models-dev/fraud/v1/metrics.json#1001"]
    assert outcome.extra["decided"] == ["ml-models-dev/fraud/v2/metrics.json#1002"]
    rejected, decided = deps.registry.decisions("fraud", "dev")
    assert (rejected.version, rejected.passed, rejected.comparisons) == (1, False, [])
    assert rejected.reason.startswith(evaluate_model.REJECTED) and field in rejected.reason
    assert decided.passed and aliases(deps) == {"candidate": 2, "champion": 2}
    assert len(deps.posts) == 1

    # AND the next pass does not read it again
    reads_before = deps.registry.decisions("fraud", "dev")
    assert reconcile_registry.handle(NEXT_RUN, deps).status is Status.IGNORED
    assert deps.registry.decisions("fraud", "dev") == reads_before

    # AND a fixed upload (a new generation) has a decision of its own
    upload(deps, 1, {"auc": 0.95}, generation=1_011)
    fixed = reconcile_registry.handle(NEXT_RUN, deps)
    assert fixed.extra["decided"] == ["ml-models-dev/fraud/v1/metrics.json#1011"]
    assert aliases(deps) == {"candidate": 2, "champion": 2}  # v1 passed against v2, but nothing moves back


def test_an_older_versions_made_up_decision_never_moves_champion_backwards(deps):
    # GIVEN v1's event lost, then v2 decided by its event: candidate and champion v2
    upload(deps, 1, {"auc": 0.92})
    evaluate_model.handle(upload(deps, 2, {"auc": 0.91}), deps)
    assert aliases(deps) == {"candidate": 2, "champion": 2}

    # WHEN the reconcile decides v1 (against champion v2: within tolerance, it passes)
    outcome = reconcile_registry.handle(RUN, deps)

    # THEN the decision is recorded and posted, and no alias goes back to v1
    assert outcome.extra["decided"] == ["ml-models-dev/fraud/v1/metrics.json#1001"]
    assert [(v, passed, champion) for v, _, passed, champion, _, _ in decisions(deps)] == [
        (1, True, 2),
        (2, True, None),
    ]
    assert aliases(deps) == {"candidate": 2, "champion": 2}
    assert all(m.version == 2 for m in deps.registry.alias_history("fraud", "dev"))
    assert "no alias moved" in deps.posts[-1]["blocks"][1]["text"]["text"]


def test_several_lost_versions_are_decided_in_ascending_order(deps):
    # GIVEN v1..v3 all lost; v2 better than v1, v3 better than v2
    for version, auc in ((3, 0.95), (1, 0.90), (2, 0.92)):
        upload(deps, version, {"auc": auc})

    reconcile_registry.handle(RUN, deps)

    # THEN each is compared with the champion the one before left, as the event path would have
    assert [(v, champion) for v, _, _, champion, _, _ in decisions(deps)] == [(1, None), (2, 1), (3, 2)]
    assert aliases(deps) == {"candidate": 3, "champion": 3}


class _HeldRead:
    """The object store, with the named thread's read of the metrics held until released: a delivery in flight."""

    def __init__(self, inner: LocalObjectStore, thread_name: str) -> None:
        self._inner, self._thread_name = inner, thread_name
        self.inside, self.release = threading.Event(), threading.Event()

    def read_head(self, bucket, name, generation, length):
        if threading.current_thread().name == self._thread_name and name.endswith("metrics.json"):
            self.inside.set()
            assert self.release.wait(10)
        return self._inner.read_head(bucket, name, generation, length)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_reconcile_racing_the_event_acts_once(deps):
    # GIVEN v1's event in flight: it holds the evaluate claim while it reads the metrics
    event = upload(deps, 1, {"auc": 0.90})
    held = _HeldRead(deps.objects, "event")
    deps.objects = held  # type: ignore[assignment]
    outcomes: list[Any] = []
    delivery = threading.Thread(target=lambda: outcomes.append(evaluate_model.handle(event, deps)), name="event")
    delivery.start()
    assert held.inside.wait(10)

    # WHEN the daily pass runs meanwhile
    during = reconcile_registry.handle(RUN, deps)

    # THEN it leaves the version to the delivery holding the claim
    assert during.extra["in_progress"] == ["ml-models-dev/fraud/v1/metrics.json#1001"]
    assert deps.registry.decisions("fraud", "dev") == []
    held.release.set()
    delivery.join(10)
    assert outcomes[0].status is Status.APPLIED

    # AND between the two: one decision, one move of each alias, one post; the next pass does nothing
    assert reconcile_registry.handle(NEXT_RUN, deps).status is Status.IGNORED
    assert len(deps.registry.decisions("fraud", "dev")) == 1
    assert len(deps.registry.alias_history("fraud", "dev")) == 2
    assert len(deps.posts) == 1


def test_an_event_racing_the_reconcile_is_retried_and_then_a_duplicate(deps):
    # GIVEN the daily pass evaluating v1 (its event lost, so far)
    event = upload(deps, 1, {"auc": 0.90})
    held = _HeldRead(deps.objects, "reconcile")
    deps.objects = held  # type: ignore[assignment]
    outcomes: list[Any] = []
    sweep = threading.Thread(target=lambda: outcomes.append(reconcile_registry.handle(RUN, deps)), name="reconcile")
    sweep.start()
    assert held.inside.wait(10)

    # WHEN the late event arrives meanwhile, it finds the claim taken: a 500, redelivered
    with pytest.raises(AlreadyInProgressError):
        evaluate_model.handle(event, deps)
    held.release.set()
    sweep.join(10)
    assert outcomes[0].extra["decided"] == ["ml-models-dev/fraud/v1/metrics.json#1001"]

    # THEN the redelivery is a duplicate: one decision, one post
    assert evaluate_model.handle(event, deps).status is Status.DUPLICATE
    assert len(deps.registry.decisions("fraud", "dev")) == 1 and len(deps.posts) == 1


# -- the property: a reconcile after lost events leaves the decisions the event path would have taken ------
AUCS = st.sampled_from([0.80, 0.85, 0.895, 0.90, 0.905, 0.95])
METRICS = st.one_of(
    AUCS.map(lambda auc: {"auc": auc}),
    st.just(b'{"accuracy": 0.9}'),  # lacks the required auc: rejected
)


def _world(root: Path, env: str, uploads: list[bytes | dict], lost: set[int]) -> EmbeddedDeps:
    """Versions uploaded in order, each event delivered at once unless lost; then the daily pass.

    In staging an operator has made v1 the champion (the gate never promotes there)."""
    deps = EmbeddedDeps.at(root)
    if env == "staging":
        evaluate_model.handle(upload(deps, 1, {"auc": 0.90}, env=env), deps)
        deps.registry.set_alias("fraud", env, "champion", 1, by="oncall", at=deps.clock())
    first = 2 if env == "staging" else 1
    for version, content in enumerate(uploads, start=first):
        event = upload(deps, version, content, env=env)
        if version not in lost:
            try:
                evaluate_model.handle(event, deps)
            except Exception as exc:  # the event path's rejection: logged and acknowledged, nothing recorded
                assert "metrics.json" in str(exc)
        deps.clock.advance(60)
    reconcile_registry.handle(RUN, deps)
    return deps


def _assert_same(env: str, uploads: list[bytes | dict], lost: set[int]) -> None:
    with tempfile.TemporaryDirectory() as whole, tempfile.TemporaryDirectory() as lossy:
        expected = _world(Path(whole), env, uploads, set())
        healed = _world(Path(lossy), env, uploads, lost)
        assert decisions(healed, env) == decisions(expected, env)
        assert aliases(healed, env) == aliases(expected, env)
        assert len(healed.posts) == len(expected.posts)
        # AND the next pass does nothing
        assert reconcile_registry.handle(NEXT_RUN, healed).status is Status.IGNORED


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(uploads=st.lists(METRICS, min_size=1, max_size=5), data=st.data())
def test_where_the_champion_stays_put_any_lost_events_heal_to_the_no_loss_decisions(uploads, data):
    # Outside auto-promote (staging) the champion only moves by hand, so no decision depends on another:
    # any set of lost events heals to exactly what the event path would have decided with none lost.
    lost = data.draw(st.sets(st.sampled_from(range(2, len(uploads) + 2))), label="lost")
    _assert_same("staging", uploads, lost)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(uploads=st.lists(METRICS, min_size=1, max_size=5), data=st.data())
def test_in_dev_events_lost_in_an_outage_heal_to_the_no_loss_decisions(uploads, data):
    # In dev each passing version becomes champion, so a version's decision depends on those before it. Events
    # lost from some version on (the function down until the daily pass) are decided in the order the event
    # path would have taken them, to the same decisions and aliases.
    since = data.draw(st.integers(1, len(uploads) + 1), label="outage from version")
    _assert_same("dev", uploads, set(range(since, len(uploads) + 1)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(uploads=st.lists(METRICS, min_size=1, max_size=5), data=st.data())
def test_in_dev_any_lost_events_end_decided_once_and_aliases_never_move_back(uploads, data):
    # A lost event followed by a delivered one cannot be undone: the later version was already compared with
    # the champion of its day. What still holds: every metrics.json has one decision, aliases only move
    # forward, and they end on the newest version that passed.
    lost = data.draw(st.sets(st.sampled_from(range(1, len(uploads) + 1))), label="lost")
    with tempfile.TemporaryDirectory() as root:
        deps = _world(Path(root), "dev", uploads, lost)
        got = decisions(deps)
        assert [v for v, *_ in got] == list(range(1, len(uploads) + 1))
        for alias in ("candidate", "champion"):
            moves = [m.version for m in deps.registry.alias_history("fraud", "dev") if m.alias == alias]
            assert moves == sorted(moves)
        passed = [v for v, _, ok, *_ in got if ok]
        assert aliases(deps) == ({"candidate": max(passed), "champion": max(passed)} if passed else {})
        assert reconcile_registry.handle(NEXT_RUN, deps).status is Status.IGNORED


class _SlackDown:
    """The outbox, unreachable for the next `failures` posts, as Slack down past the event's retries."""

    def __init__(self, inner: OutboxSlackNotifier, failures: int) -> None:
        self._inner, self.failures = inner, failures
        self.path = inner.path

    def post(self, payload):
        if self.failures:
            self.failures -= 1
            raise TransientError("slack unreachable")
        self._inner.post(payload)


def test_a_decision_whose_post_never_went_out_is_finished_by_the_next_reconcile(deps):
    # GIVEN v1's event decided it, moved the aliases, then could not post (and its retries ran out)
    event = upload(deps, 1, {"auc": 0.90})
    deps.notifier = _SlackDown(deps.notifier, failures=1)  # type: ignore[assignment]
    with pytest.raises(TransientError):
        evaluate_model.handle(event, deps)
    assert len(deps.registry.decisions("fraud", "dev")) == 1 and deps.posts == []

    # WHEN the daily pass runs
    outcome = reconcile_registry.handle(RUN, deps)

    # THEN it finishes that evaluation with the recorded decision: posted once, nothing decided twice
    assert outcome.extra["finished"] == ["ml-models-dev/fraud/v1/metrics.json#1001"]
    assert outcome.extra["decided"] == []
    assert len(deps.posts) == 1 and len(deps.registry.decisions("fraud", "dev")) == 1
    assert aliases(deps) == {"candidate": 1, "champion": 1}
    assert reconcile_registry.handle(NEXT_RUN, deps).status is Status.IGNORED
    assert len(deps.posts) == 1


def test_a_decision_older_than_the_window_is_not_handed_back(deps):
    # GIVEN a decision taken, then its claim record gone (as Firestore's retention removes it, days later)
    evaluate_model.handle(upload(deps, 1, {"auc": 0.90}), deps)
    deps.idempotency = SqliteIdempotencyStore(deps.registry_path.parent / "fresh-claims.sqlite")
    deps.clock.advance(reconcile_registry.UNFINISHED_WINDOW.total_seconds() + 1)

    # WHEN the daily pass runs, THEN the decision stands and nothing is evaluated again
    assert reconcile_registry.handle(RUN, deps).status is Status.IGNORED
    assert len(deps.posts) == 1 and len(deps.registry.decisions("fraud", "dev")) == 1


class _RefusingAliases:
    """The registry, refusing alias moves to one version (its files deleted between the listing and the move)."""

    def __init__(self, inner: SqliteRegistryStore, version: int) -> None:
        self._inner, self._version = inner, version

    def set_alias(self, model, env, alias, version, **how):
        if version == self._version:
            raise UnknownVersionError(f"{env}/{model} has no version v{version}")
        return self._inner.set_alias(model, env, alias, version, **how)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_permanent_failure_after_the_decision_does_not_fail_the_pass(deps):
    upload(deps, 1, {"auc": 0.90})
    upload(deps, 2, {"auc": 0.92})
    deps.registry = _RefusingAliases(deps.registry, 1)  # type: ignore[assignment]

    outcome = reconcile_registry.handle(RUN, deps)

    # v1's decision stands as recorded and is told (its aliases refused, saying why), v2 decided and promoted
    assert outcome.extra["decided"] == [
        "ml-models-dev/fraud/v1/metrics.json#1001",
        "ml-models-dev/fraud/v2/metrics.json#1002",
    ]
    assert outcome.extra["rejected"] == []
    assert [(v, passed) for v, _, passed, *_ in decisions(deps)] == [(1, True), (2, True)]
    assert aliases(deps) == {"candidate": 2, "champion": 2}
    assert len(deps.posts) == 2 and "aliases not moved: dev/fraud has no version v1" in str(deps.posts[0])


def test_slack_down_for_one_file_still_decides_the_others_then_the_run_is_retried(deps):
    # GIVEN two lost metrics events, and Slack down for the first post only
    upload(deps, 1, {"auc": 0.90})
    upload(deps, 2, {"auc": 0.92})
    deps.notifier = _SlackDown(deps.notifier, failures=1)  # type: ignore[assignment]

    # WHEN the daily pass runs, THEN v2 is still decided, and the pass asks to be retried for v1
    with pytest.raises(TransientError, match=r"1 gate evaluations failed now \(ml-models-dev/fraud/v1/"):
        reconcile_registry.handle(RUN, deps)
    assert len(deps.posts) == 1 and [v for v, *_ in decisions(deps)] == [1, 2]

    # AND the retry finishes v1 (recorded, not yet posted): each decision posted once, taken once
    outcome = reconcile_registry.handle(RUN, deps)
    assert outcome.extra["finished"] == ["ml-models-dev/fraud/v1/metrics.json#1001"]
    assert len(deps.posts) == 2 and [v for v, *_ in decisions(deps)] == [1, 2]
    assert aliases(deps) == {"candidate": 2, "champion": 2}


class _PromotedMeanwhile:
    """The registry, where a live event promotes `newer` between this evaluation's decision and its move."""

    def __init__(self, inner: SqliteRegistryStore, newer: int) -> None:
        self._inner, self._newer, self.raced = inner, newer, False

    def set_alias(self, model, env, alias, version, **how):
        if not self.raced:
            self.raced = True
            for name in ("candidate", "champion"):
                self._inner.set_alias(model, env, name, self._newer, by="quality-gate", at=how["at"])
        return self._inner.set_alias(model, env, alias, version, **how)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_newer_version_promoted_while_an_older_one_is_decided_stays_promoted(deps):
    # GIVEN v1 and v2 uploaded; v1's lost event is made up by the pass while v2's live event promotes v2
    v2 = upload(deps, 2, {"auc": 0.92})
    register(v2, locate_model(v2.bucket, v2.name, deps.settings.bucket_pattern), deps)  # an alias target
    deps.registry = _PromotedMeanwhile(deps.registry, 2)  # type: ignore[assignment]

    # WHEN v1 is decided (passing), with v2 promoted between its decision and its move
    evaluate_model.handle(upload(deps, 1, {"auc": 0.90}), deps)

    # THEN the aliases stay on v2: the move is refused by the registry itself, not by an earlier read
    assert aliases(deps) == {"candidate": 2, "champion": 2}


class _CrashingOn:
    """The registry, where recording v`version`'s decision meets a bug (an exception nobody planned for)."""

    def __init__(self, inner: SqliteRegistryStore, version: int) -> None:
        self._inner, self._version = inner, version

    def record_decision(self, decision):
        if decision.version == self._version:
            raise RecursionError("maximum recursion depth exceeded")
        return self._inner.record_decision(decision)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_file_that_crashes_its_evaluation_does_not_stop_the_files_after_it(deps):
    """A RecursionError on one metrics.json once escaped the pass: every file sorted after it, any model,
    went undecided, every day."""
    upload(deps, 1, {"auc": 0.90})
    upload(deps, 2, {"auc": 0.92})
    deps.registry = _CrashingOn(deps.registry, 1)  # type: ignore[assignment]

    with pytest.raises(PermanentError, match=r"1 gate evaluations crashed \(ml-models-dev/fraud/v1/metrics.json"):
        reconcile_registry.handle(RUN, deps)

    assert [v for v, *_ in decisions(deps)] == [2]
    assert aliases(deps) == {"candidate": 2, "champion": 2}
