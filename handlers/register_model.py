"""A model file landed in (or left) a model bucket: keep the registry in step with it.

finalized -> record the object version (idempotent on `bucket/name#generation`).
deleted   -> mark that object version deleted; a delete for an older generation (an overwrite) is
             only recorded on that generation, the current one stays live.
archived  -> the same, on a versioned bucket: there, deleting or overwriting the live object keeps it
             as a noncurrent version and GCS sends `archived`, not `deleted` (the `deleted` comes only
             when the noncurrent version itself is removed, and is then a duplicate). Either way the
             version is no longer live, so "latest" must stop pointing at it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.artifact_format import ArtifactFormat, detect_stored_format
from shared.idempotency import run_once
from shared.model_path import ModelLocation, NotAModel, locate_model
from shared.model_registry import ModelArtifact, ObjectRef, uploader_from_metadata
from shared.outcome import Outcome
from shared.payloads.storage import StorageChange, StorageObjectEvent

if TYPE_CHECKING:
    from shared.ports import Clock, IdempotencyStore, ObjectStore, RegistryStore


class RegisterModelSettings(Protocol):
    @property
    def bucket_pattern(self) -> str: ...
    @property
    def claim_ttl_s(self) -> float: ...


class RegisterModelDeps(Protocol):
    @property
    def settings(self) -> RegisterModelSettings: ...
    @property
    def objects(self) -> ObjectStore: ...
    @property
    def registry(self) -> RegistryStore: ...
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def clock(self) -> Clock: ...


def handle(event: StorageObjectEvent, deps: RegisterModelDeps) -> Outcome:
    location = locate_model(event.bucket, event.name, deps.settings.bucket_pattern)
    if isinstance(location, NotAModel):
        return Outcome.ignored(f"not a model artifact: {location.reason}", key=event.object_key)
    if event.change is StorageChange.FINALIZED:
        return _on_finalized(event, location, deps)
    if event.change in (StorageChange.DELETED, StorageChange.ARCHIVED):
        return _on_left(event, location, deps)
    return Outcome.ignored(f"storage change {event.change} does not affect the registry", key=event.object_key)


def build_artifact(
    event: StorageObjectEvent, location: ModelLocation, fmt: ArtifactFormat, *, now: datetime, registered_by: str
) -> ModelArtifact:
    return ModelArtifact(
        env=location.env,
        model=location.model,
        version=location.version,
        path=location.path,
        ref=ObjectRef(event.bucket, event.name, event.generation),
        format=fmt,
        registered_at=now,
        event_id=event.event_id,
        registered_by=registered_by,
        metageneration=event.metageneration,
        size=event.size,
        md5_hash=event.md5_hash,
        crc32c=event.crc32c,
        content_type=event.content_type,
        metadata=event.metadata,
        uploader=uploader_from_metadata(event.metadata),
        object_time=event.time_created or event.updated or event.event_time,
    )


def register(
    event: StorageObjectEvent, location: ModelLocation, deps: RegisterModelDeps, *, registered_by: str = "event"
) -> tuple[bool, dict[str, Any]]:
    """Record one object version once; shared with reconcile_registry so both take the same claim."""

    def record() -> dict[str, Any]:
        # The head, and for a zip archive its central directory (read from the tail): pinned to the generation.
        fmt = detect_stored_format(deps.objects, event.bucket, event.name, event.generation, event.size)
        artifact = build_artifact(event, location, fmt, now=deps.clock(), registered_by=registered_by)
        result = deps.registry.record(artifact)
        return {
            "model": location.model,
            "env": location.env,
            "version": location.version,
            "path": location.path,
            "format": artifact.format.name,
            "unsafe": artifact.format.unsafe,
            "latest_version": result.latest_version,
        }

    return run_once(
        deps.idempotency,
        f"finalized:{event.object_key}",
        record,
        clock=deps.clock,
        claim_ttl_s=deps.settings.claim_ttl_s,
    )


def _latest(version: int | None) -> str:
    return f"latest is v{version}" if version is not None else "no live version left"


def _on_finalized(event: StorageObjectEvent, location: ModelLocation, deps: RegisterModelDeps) -> Outcome:
    fresh, result = register(event, location, deps)
    label = f"{location.model} v{location.version} ({location.env}) {location.path}"
    if not fresh:
        return Outcome.duplicate(f"already registered {label}", key=event.object_key)
    warning = " [unsafe: pickle runs code on load]" if result["unsafe"] else ""
    return Outcome.applied(
        f"registered {label} as {result['format']}{warning}; {_latest(result['latest_version'])}",
        key=event.object_key,
        model=location.model,
        version=location.version,
        env=location.env,
    )


def mark_deleted(ref: ObjectRef, deleted_at: datetime, deps: RegisterModelDeps) -> tuple[bool, dict[str, Any]]:
    """Mark one object version deleted once; shared with reconcile_registry, which heals lost deletes."""

    def mark() -> dict[str, Any]:
        deleted = deps.registry.mark_deleted(ref, deleted_at)
        return {"found": deleted.found, "latest_version": deleted.latest_version}

    return run_once(
        deps.idempotency, f"deleted:{ref.key}", mark, clock=deps.clock, claim_ttl_s=deps.settings.claim_ttl_s
    )


def _on_left(event: StorageObjectEvent, location: ModelLocation, deps: RegisterModelDeps) -> Outcome:
    """The object version stopped being live: deleted, or archived as noncurrent on a versioned bucket."""
    ref = ObjectRef(event.bucket, event.name, event.generation)
    fresh, result = mark_deleted(ref, event.event_time or deps.clock(), deps)
    label = f"{location.model} v{location.version} ({location.env}) {location.path}#{event.generation}"
    how = "deleted" if event.change is StorageChange.DELETED else "archived (a noncurrent version now)"
    if not fresh:
        return Outcome.duplicate(f"already recorded that {label} left: {how}", key=event.object_key)
    if not result["found"]:
        return Outcome.ignored(f"{how} object was never registered: {label}", key=event.object_key)
    return Outcome.applied(
        f"marked {how} {label}; {_latest(result['latest_version'])}", key=event.object_key, model=location.model
    )
