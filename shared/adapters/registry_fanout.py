"""One registry over two: BigQuery keeps the history for SQL, Firestore answers the functions and the CLI.

Writes go to the secondary first, then the primary. Both are idempotent on record_key, so a crash in
between is healed by the redelivery (the idempotency claim is released on failure); and because the
primary is written last, the primary never shows a row the history lacks. Reads and results come from
the primary alone.

A secondary that can append a registration without reading first (BigQuery's log: its read is a query job)
is asked to: its answer would be discarded anyway, and the primary's claim-guarded answer is the one returned.

Alias moves go the same way, with the same time and actor on both: a move the secondary refuses (an
unknown version, a bad name) reaches neither, and a crash between the two is healed by moving again
(the secondary sees a no-op and records nothing, the primary moves).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from shared.model_registry import AliasResult, alias_name

if TYPE_CHECKING:
    from shared.model_registry import (
        AliasMove,
        DeleteResult,
        ModelArtifact,
        ModelSummary,
        ObjectRef,
        RecordResult,
    )
    from shared.ports import AliasedRegistryStore
    from shared.quality_gate import GateDecision


@runtime_checkable
class AppendsRegistrations(Protocol):
    def append_registration(self, artifact: ModelArtifact) -> None: ...


class FanOutRegistryStore:
    def __init__(self, primary: AliasedRegistryStore, secondary: AliasedRegistryStore) -> None:
        self.primary = primary
        self.secondary = secondary

    def record(self, artifact: ModelArtifact) -> RecordResult:
        if isinstance(self.secondary, AppendsRegistrations):
            self.secondary.append_registration(artifact)
        else:
            self.secondary.record(artifact)
        return self.primary.record(artifact)

    def mark_deleted(self, ref: ObjectRef, deleted_at: datetime) -> DeleteResult:
        self.secondary.mark_deleted(ref, deleted_at)
        return self.primary.mark_deleted(ref, deleted_at)

    def known_keys(self, bucket: str) -> set[str]:
        return self.primary.known_keys(bucket)

    def undeleted_keys(self, bucket: str) -> set[str]:
        return self.primary.undeleted_keys(bucket)

    def list_models(self, env: str | None = None) -> list[ModelSummary]:
        return self.primary.list_models(env)

    def artifacts(self, model: str, env: str | None = None) -> list[dict[str, Any]]:
        return self.primary.artifacts(model, env)

    def set_alias(
        self, model: str, env: str, alias: str, version: int, *, by: str, at: datetime, forward_only: bool = False
    ) -> AliasResult:
        if forward_only:  # refused on the primary's word before the log records a move it would not make
            newer = [
                a for a in self.primary.aliases(model, env) if a.alias == alias_name(alias) and a.version > version
            ]
            if newer:
                return AliasResult(moved=False, current=newer[0])
        self.secondary.set_alias(model, env, alias, version, by=by, at=at)
        return self.primary.set_alias(model, env, alias, version, by=by, at=at, forward_only=forward_only)

    def aliases(self, model: str, env: str | None = None) -> list[AliasMove]:
        return self.primary.aliases(model, env)

    def alias_history(self, model: str, env: str | None = None) -> list[AliasMove]:
        return self.primary.alias_history(model, env)

    def record_decision(self, decision: GateDecision) -> bool:
        self.secondary.record_decision(decision)
        return self.primary.record_decision(decision)

    def decisions(self, model: str, env: str | None = None) -> list[GateDecision]:
        return self.primary.decisions(model, env)
