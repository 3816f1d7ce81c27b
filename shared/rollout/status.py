"""Is a Deployment's rollout done, still going, or failed? The rules of `kubectl rollout status`.

Ported from kubectl's DeploymentStatusViewer (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go),
reading the Deployment as the API serves it (a JSON dict), so any client or test server can feed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class RolloutPhase(StrEnum):
    WAITING = "waiting"  # the controller is still at it
    DONE = "done"  # every replica updated and available
    FAILED = "failed"  # the Progressing condition says the deadline passed


@dataclass(frozen=True)
class RolloutStatus:
    phase: RolloutPhase
    message: str

    @property
    def finished(self) -> bool:
        return self.phase is not RolloutPhase.WAITING


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def rollout_status(deployment: dict[str, Any]) -> RolloutStatus:
    metadata, spec, status = (
        deployment.get("metadata") or {},
        deployment.get("spec") or {},
        deployment.get("status") or {},
    )
    name = metadata.get("name", "?")
    if int(metadata.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return RolloutStatus(RolloutPhase.WAITING, "waiting for the deployment spec update to be observed")
    progressing = _condition(status, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return RolloutStatus(RolloutPhase.FAILED, f"deployment {name!r} exceeded its progress deadline")
    wanted = spec.get("replicas", 1)
    updated = int(status.get("updatedReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if wanted is not None and updated < int(wanted):
        return RolloutStatus(RolloutPhase.WAITING, f"{updated} out of {wanted} new replicas have been updated")
    if replicas > updated:
        return RolloutStatus(RolloutPhase.WAITING, f"{replicas - updated} old replicas are pending termination")
    if available < updated:
        return RolloutStatus(RolloutPhase.WAITING, f"{available} of {updated} updated replicas are available")
    return RolloutStatus(RolloutPhase.DONE, f"deployment {name!r} successfully rolled out")
