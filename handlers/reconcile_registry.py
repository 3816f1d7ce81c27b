"""Daily safety net: list the model buckets and bring the registry in step with what is there.

Events can be lost (a function down past its retry window, a trigger created after the upload); a
scheduled pass heals the registry by itself:
- a model object the registry misses is registered;
- a registered object version no longer in the bucket (its delete event was lost) is marked deleted;
- a version's metrics.json with no gate decision (its evaluate_model event was lost) is evaluated.
All go through the same claims as the event path, so a reconcile racing a late event acts once.
The registry is read before the bucket is listed: a version registered and present then, and absent
from the listing, was really deleted in between, never merely not yet listed.

The gate sweep takes the listing's metrics.json objects (the live generation only: an older one would be
`gone` for the event path too) whose object version has no recorded decision, and hands each to
evaluate_model's own use case, in ascending version order per model and env, so the aliases end where
the event path would have put them (and the gate moves them forward only). A metrics.json the gate
rejects does not fail the pass: it is recorded as a failed decision naming the field, so the next pass
leaves it alone; a new upload of the file has a decision of its own. A recent decision is handed to the
use case again too: its claim answers `duplicate` at no cost, unless the evaluation stopped after
recording the decision (Slack down past the event's retries), which then moves the aliases and posts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from handlers import evaluate_model
from handlers.evaluate_model import EvaluateModelDeps
from handlers.register_model import mark_deleted, register
from shared.errors import AlreadyInProgressError, EventParseError, MlopsEventsError, PermanentError, TransientError
from shared.model_path import ModelLocation, NotAModel, bucket_env, locate_model
from shared.model_registry import ObjectRef
from shared.outcome import Outcome, Status
from shared.payloads.model_metrics import METRICS_FILE
from shared.payloads.scheduler import ScheduledRun
from shared.payloads.storage import StorageChange, StorageObjectEvent

if TYPE_CHECKING:
    from shared.ports import StoredObject
    from shared.quality_gate import GateDecision

log = logging.getLogger(__name__)

# The registry's and the gate's ports: registering needs a subset of what evaluating does.
ReconcileDeps = EvaluateModelDeps
# How long after a decision the sweep still checks that its evaluation finished: two daily passes past the
# event path's 24 h of retries, well within the 8 days an idempotency record is kept.
UNFINISHED_WINDOW = timedelta(days=3)


def _buckets(run: ScheduledRun, deps: ReconcileDeps) -> list[str]:
    pattern = deps.settings.bucket_pattern
    requested = run.payload.get("buckets")
    if requested is None:
        return [b for b in deps.objects.list_buckets() if bucket_env(b, pattern) is not None]
    if not isinstance(requested, list) or not all(isinstance(b, str) for b in requested):
        raise EventParseError("expected a list of bucket names", field="message.data.buckets")
    wrong = [b for b in requested if bucket_env(b, pattern) is None]
    if wrong:
        raise EventParseError(
            f"{wrong} do not match the model bucket pattern {pattern!r}", field="message.data.buckets"
        )
    return list(requested)


def _as_event(obj: StoredObject, run: ScheduledRun) -> StorageObjectEvent:
    return StorageObjectEvent(
        event_id=f"reconcile:{run.run_key}",
        change=StorageChange.FINALIZED,
        event_time=obj.updated,
        bucket=obj.bucket,
        name=obj.name,
        generation=obj.generation,
        metageneration=obj.metageneration,
        size=obj.size,
        md5_hash=obj.md5_hash,
        crc32c=obj.crc32c,
        content_type=obj.content_type,
        time_created=obj.time_created,
        updated=obj.updated,
        metadata=obj.metadata,
    )


def _parse_key(record_key: str) -> ObjectRef:
    location, _, generation = record_key.rpartition("#")
    bucket, _, name = location.partition("/")
    return ObjectRef(bucket, name, int(generation))


def handle(run: ScheduledRun, deps: ReconcileDeps) -> Outcome:
    buckets = _buckets(run, deps)
    checked = 0
    healed: list[str] = []
    vanished: list[str] = []
    metrics: list[tuple[ModelLocation, StorageObjectEvent]] = []
    for bucket in buckets:
        known = deps.registry.known_keys(bucket)
        expected = deps.registry.undeleted_keys(bucket)
        listed: set[str] = set()
        for obj in deps.objects.list_objects(bucket):
            location = locate_model(obj.bucket, obj.name, deps.settings.bucket_pattern)
            if isinstance(location, NotAModel):
                continue
            checked += 1
            event = _as_event(obj, run)
            listed.add(event.object_key)
            if location.path == METRICS_FILE:
                metrics.append((location, event))
            if event.object_key not in known and register(event, location, deps, registered_by="reconcile")[0]:
                healed.append(event.object_key)
        deleted_at = run.schedule_time or deps.clock()
        for key in sorted(expected - listed):
            fresh, result = mark_deleted(_parse_key(key), deleted_at, deps)
            if fresh and result["found"]:
                vanished.append(key)
    gate = _sweep_gate(metrics, deps)
    scope = f"{checked} model objects in {len(buckets)} buckets"
    if gate.failed:  # after every other file: the retry finds what this pass did done, and decides the rest
        raise TransientError(
            f"{len(gate.failed)} gate evaluations failed now ({', '.join(gate.failed[:5])}); registered"
            f" {len(healed)}, marked {len(vanished)} deleted and decided {len(gate.decided)} before retrying"
        )
    if gate.crashed:  # not retried: the same file would crash again; the log has each traceback
        raise PermanentError(
            f"{len(gate.crashed)} gate evaluations crashed ({', '.join(gate.crashed[:5])}); registered"
            f" {len(healed)}, marked {len(vanished)} deleted and decided {len(gate.decided)} all the same"
        )
    if not healed and not vanished and not gate.decided and not gate.rejected and not gate.finished:
        busy = f"; {len(gate.in_progress)} metrics files being evaluated now" if gate.in_progress else ""
        return Outcome.ignored(f"registry complete: {scope} all registered and gated{busy}", key=run.run_key)
    return Outcome.applied(
        f"registered {len(healed)} missed objects and marked {len(vanished)} vanished ones deleted, of {scope}; "
        f"made up {len(gate.decided)} missed gate decisions, finished {len(gate.finished)} interrupted ones "
        f"and recorded {len(gate.rejected)} unreadable metrics files as failed",
        key=run.run_key,
        healed=healed[:50],
        vanished=vanished[:50],
        decided=gate.decided[:50],
        rejected=gate.rejected[:50],
        in_progress=gate.in_progress[:50],
        finished=gate.finished[:50],
    )


@dataclass
class _GateSweep:
    decided: list[str] = field(default_factory=list)  # metrics object versions decided by this pass
    rejected: list[str] = field(default_factory=list)  # unreadable ones, recorded as failed decisions
    in_progress: list[str] = field(default_factory=list)  # held by a late event right now: it decides
    finished: list[str] = field(default_factory=list)  # recorded, but its aliases or post had not been done
    failed: list[str] = field(default_factory=list)  # failed now (transient, Slack refused): the run is retried
    crashed: list[str] = field(default_factory=list)  # an unexpected error: the run fails, naming them


def _sweep_gate(metrics: list[tuple[ModelLocation, StorageObjectEvent]], deps: ReconcileDeps) -> _GateSweep:
    """Evaluate every listed metrics.json with no decision, through evaluate_model's use case and claims.

    Ascending versions per model and env, as the uploads came: the aliases end where the event path would
    have put them. The decisions are read per model and env, and only where a metrics.json was listed."""
    sweep = _GateSweep()
    by_model: dict[tuple[str, str], list[tuple[ModelLocation, StorageObjectEvent]]] = {}
    for location, event in metrics:
        by_model.setdefault((location.model, location.env), []).append((location, event))
    for (model, env), found in sorted(by_model.items()):
        recorded = {d.record_key: d for d in deps.registry.decisions(model, env)}
        for location, event in sorted(found, key=lambda item: (item[0].version, item[1].object_key)):
            earlier = recorded.get(event.object_key)
            if earlier is not None and not _maybe_unfinished(earlier, deps):
                continue
            try:
                outcome = evaluate_model.handle(event, deps)
            except AlreadyInProgressError:  # a late event holds the claim: it decides, once
                sweep.in_progress.append(event.object_key)
                continue
            except PermanentError as exc:  # one bad file never fails the pass; recorded, so reported once
                # (the metrics.json unreadable; where a decision was recorded already, record_rejection finds
                # it and adds nothing)
                if evaluate_model.record_rejection(event, location, str(exc), deps):
                    sweep.rejected.append(event.object_key)
                continue
            except MlopsEventsError as exc:  # Slack or a store down now: the other files still get decided
                log.warning("reconcile: gate evaluation of %s failed now: %s", event.object_key, exc)
                sweep.failed.append(event.object_key)
                continue
            except Exception:  # a bug met on one file (a RecursionError once): the files after it still get decided
                log.exception("reconcile: gate evaluation of %s crashed", event.object_key)
                sweep.crashed.append(event.object_key)
                continue
            if outcome.status is Status.APPLIED:
                (sweep.decided if earlier is None else sweep.finished).append(event.object_key)
    return sweep


def _maybe_unfinished(decision: GateDecision, deps: ReconcileDeps) -> bool:
    """A recent decision whose evaluation may have stopped after recording it (aliases or Slack failed, and
    the event's retries ran out): handed to the use case again, whose claim says whether it finished. Only
    while that claim's record is surely still kept (Firestore keeps a completed one 8 days), so a finished
    evaluation is never run twice; never for a recorded rejection (nothing follows one)."""
    if decision.reason.startswith(evaluate_model.REJECTED):
        return False
    try:
        decided_at = datetime.fromisoformat(decision.decided_at)
    except ValueError:
        return False
    if decided_at.tzinfo is None:
        decided_at = decided_at.replace(tzinfo=UTC)
    return deps.clock() - decided_at < UNFINISHED_WINDOW
