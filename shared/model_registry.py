"""The registry's domain: one registered object version of a model, and what readers see."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.artifact_format import ArtifactFormat
from shared.errors import PermanentError

# Custom metadata keys that name who uploaded the object, most specific first.
UPLOADER_KEYS = ("uploader", "uploaded-by", "uploaded_by", "author")


def uploader_from_metadata(metadata: dict[str, str]) -> str | None:
    return next((metadata[k] for k in UPLOADER_KEYS if metadata.get(k)), None)


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    name: str
    generation: int

    @property
    def key(self) -> str:
        return f"{self.bucket}/{self.name}#{self.generation}"


@dataclass(frozen=True)
class ModelArtifact:
    """One object version under `{model}/v{N}/`: a row of `ml_registry.models`."""

    env: str
    model: str
    version: int
    path: str
    ref: ObjectRef
    format: ArtifactFormat
    registered_at: datetime
    event_id: str
    registered_by: str = "event"  # "event" or "reconcile"
    metageneration: int | None = None
    size: int | None = None
    md5_hash: str | None = None
    crc32c: str | None = None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    uploader: str | None = None
    object_time: datetime | None = None

    @property
    def record_key(self) -> str:
        return self.ref.key

    def to_row(self) -> dict[str, Any]:
        """The flat row every backend stores; the BigQuery schema in shared/schemas matches it."""
        return {
            "record_key": self.record_key,
            "env": self.env,
            "model": self.model,
            "version": self.version,
            "path": self.path,
            "bucket": self.ref.bucket,
            "object_name": self.ref.name,
            "generation": self.ref.generation,
            "metageneration": self.metageneration,
            "size": self.size,
            "md5_hash": self.md5_hash,
            "crc32c": self.crc32c,
            "content_type": self.content_type,
            "metadata": json.dumps(self.metadata, sort_keys=True),
            "uploader": self.uploader,
            "object_time": _iso(self.object_time),
            "event_id": self.event_id,
            "format": self.format.name,
            "format_unsafe": self.format.unsafe,
            "format_detail": self.format.detail,
            "registered_at": _iso(self.registered_at),
            "registered_by": self.registered_by,
            "deleted_at": None,
            "superseded_by_generation": None,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class RecordResult:
    created: bool  # False when this record_key was already there (a redelivery that got past the claim)
    latest_version: int | None


@dataclass(frozen=True)
class DeleteResult:
    found: bool  # False when the deleted object version was never registered
    latest_version: int | None


@dataclass(frozen=True)
class ModelSummary:
    env: str
    model: str
    latest_version: int | None
    versions: list[int]
    updated_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "model": self.model,
            "latest_version": self.latest_version,
            "versions": self.versions,
            "updated_at": self.updated_at,
        }


def is_live(row: dict[str, Any]) -> bool:
    """An artifact row counts towards `latest` while it is neither deleted nor superseded."""
    return not row.get("deleted_at") and not row.get("superseded_by_generation")


def latest_live_version(rows: list[dict[str, Any]]) -> int | None:
    """`latest` is derived, never stored blindly: the highest version with a live artifact.

    Deriving it makes the pointer independent of delivery order: a late v2 event after v3 changes
    nothing, and deleting every file of v3 brings v2 back.
    """
    live = [int(r["version"]) for r in rows if is_live(r)]
    return max(live) if live else None


def summarize_models(rows: list[dict[str, Any]]) -> list[ModelSummary]:
    """One summary per (env, model) from registry rows, sorted; every backend reads through this."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["env"], row["model"]), []).append(row)
    return [
        ModelSummary(
            env=env,
            model=model,
            latest_version=latest_live_version(group),
            versions=sorted({int(r["version"]) for r in group if is_live(r)}),
            updated_at=max((r["registered_at"] for r in group if r.get("registered_at")), default=None),
        )
        for (env, model), group in sorted(grouped.items())
    ]


# -- aliases ---------------------------------------------------------------------------------------
# Lowercase words joined by `-` or `_`, starting with a letter, at most 40 characters: a valid Firestore
# document id, BigQuery value and shell word as it is. `latest` is derived, never set; `v3` or `3` would
# read as a version.
ALIAS_PATTERN = re.compile(r"[a-z](?:[a-z0-9_-]{0,38}[a-z0-9])?")
RESERVED_ALIASES = frozenset({"latest"})
_VERSION_LIKE = re.compile(r"v?[0-9]+")


def alias_name(name: str) -> str:
    """`name` when it can be an alias; PermanentError saying why when it cannot."""
    if not isinstance(name, str) or not ALIAS_PATTERN.fullmatch(name):
        raise PermanentError(
            f"alias {name!r}: must be 1-40 lowercase letters, digits, '-' or '_',"
            " starting with a letter and ending with a letter or digit"
        )
    if name in RESERVED_ALIASES:
        raise PermanentError(f"alias {name!r} is reserved: the latest version is derived from the files")
    if _VERSION_LIKE.fullmatch(name):
        raise PermanentError(f"alias {name!r} reads as a version: name the role (champion, candidate, ...)")
    return name


class UnknownVersionError(PermanentError):
    """An alias set to a version the registry does not have (live) in that env."""


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias: from `previous_version` (None: a new alias) to `version`, by whom, when."""

    env: str
    model: str
    alias: str
    version: int
    previous_version: int | None
    moved_by: str
    moved_at: str  # ISO, as the rows' timestamps

    def as_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "model": self.model,
            "alias": self.alias,
            "version": self.version,
            "previous_version": self.previous_version,
            "moved_by": self.moved_by,
            "moved_at": self.moved_at,
        }


@dataclass(frozen=True)
class AliasResult:
    moved: bool  # False: the alias already pointed there, and nothing was recorded
    current: AliasMove  # the alias as it stands now (its last move)


def check_alias_target(rows: list[dict[str, Any]], env: str, model: str, version: int) -> None:
    """An alias may point only at a version with a live file in that env: what serving it would load."""
    live = {int(r["version"]) for r in rows if r["env"] == env and r["model"] == model and is_live(r)}
    if version not in live:
        known = ", ".join(f"v{v}" for v in sorted(live)) or "none"
        raise UnknownVersionError(f"{env}/{model} has no version v{version} (live versions: {known})")


def sorted_moves(moves: list[AliasMove]) -> list[AliasMove]:
    """History order on every backend: env, alias, then time."""
    return sorted(moves, key=lambda m: (m.env, m.alias, m.moved_at, m.version))
