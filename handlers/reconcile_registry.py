"""Daily safety net: list the model buckets and register every model object the registry misses.

Events can be lost (a function down past its retry window, a trigger created after the upload); a
scheduled pass heals the registry by itself. It goes through the same claim as the event path, so a
reconcile racing a late event still registers the object once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.register_model import RegisterModelDeps, register
from shared.errors import EventParseError
from shared.events.scheduler import ScheduledRun
from shared.events.storage import StorageChange, StorageObjectEvent
from shared.model_path import NotAModel, bucket_env, locate_model
from shared.outcome import Outcome

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


def handle(run: ScheduledRun, deps: RegisterModelDeps) -> Outcome:
    buckets = _buckets(run, deps)
    checked = healed = 0
    names: list[str] = []
    for bucket in buckets:
        known = deps.registry.known_keys(bucket)
        for obj in deps.objects.list_objects(bucket):
            location = locate_model(obj.bucket, obj.name, deps.settings.bucket_pattern)
            if isinstance(location, NotAModel):
                continue
            checked += 1
            event = _as_event(obj, run)
            if event.object_key in known:
                continue
            fresh, _ = register(event, location, deps, registered_by="reconcile")
            if fresh:
                healed += 1
                names.append(event.object_key)
    scope = f"{checked} model objects in {len(buckets)} buckets"
    if not healed:
        return Outcome.ignored(f"registry complete: {scope} all registered", key=run.run_key)
    return Outcome.applied(f"registered {healed} missed objects of {scope}", key=run.run_key, healed=names[:50])
