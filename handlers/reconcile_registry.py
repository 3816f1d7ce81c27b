"""Daily safety net: list the model buckets and bring the registry in step with what is there.

Events can be lost (a function down past its retry window, a trigger created after the upload); a
scheduled pass heals the registry by itself:
- a model object the registry misses is registered;
- a registered object version no longer in the bucket (its delete event was lost) is marked deleted.
Both go through the same claims as the event path, so a reconcile racing a late event acts once.
The registry is read before the bucket is listed: a version registered and present then, and absent
from the listing, was really deleted in between, never merely not yet listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.register_model import RegisterModelDeps, mark_deleted, register
from shared.errors import EventParseError
from shared.model_path import NotAModel, bucket_env, locate_model
from shared.model_registry import ObjectRef
from shared.outcome import Outcome
from shared.payloads.scheduler import ScheduledRun
from shared.payloads.storage import StorageChange, StorageObjectEvent

if TYPE_CHECKING:
    from shared.ports import StoredObject


def _buckets(run: ScheduledRun, deps: RegisterModelDeps) -> list[str]:
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


def handle(run: ScheduledRun, deps: RegisterModelDeps) -> Outcome:
    buckets = _buckets(run, deps)
    checked = 0
    healed: list[str] = []
    vanished: list[str] = []
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
            if event.object_key not in known and register(event, location, deps, registered_by="reconcile")[0]:
                healed.append(event.object_key)
        deleted_at = run.schedule_time or deps.clock()
        for key in sorted(expected - listed):
            fresh, result = mark_deleted(_parse_key(key), deleted_at, deps)
            if fresh and result["found"]:
                vanished.append(key)
    scope = f"{checked} model objects in {len(buckets)} buckets"
    if not healed and not vanished:
        return Outcome.ignored(f"registry complete: {scope} all registered", key=run.run_key)
    return Outcome.applied(
        f"registered {len(healed)} missed objects and marked {len(vanished)} vanished ones deleted, of {scope}",
        key=run.run_key,
        healed=healed[:50],
        vanished=vanished[:50],
    )
