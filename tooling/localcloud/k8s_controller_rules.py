"""The deployment controller's rules that the Kubernetes API test server follows, as pure functions: when two
objects or pod templates are the same (Go's semantic equality), the pod-template-hash, and the counts and
conditions the controller reports in a Deployment's and a ReplicaSet's status."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


def timestamp() -> str:
    """Now, as the API server writes times."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _semantic(value: Any) -> Any:
    """What Go's semantic DeepEqual compares: null, empty maps and empty lists all mean absent."""
    if isinstance(value, dict):
        pruned = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    return json.dumps(_semantic(a), sort_keys=True) == json.dumps(_semantic(b), sort_keys=True)


def without_hash(template: dict[str, Any]) -> dict[str, Any]:
    bare = copy.deepcopy(template)
    bare.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
    return bare


def template_hash(template: dict[str, Any]) -> str:
    """Stable per template, like the controller's hash (not the same algorithm)."""
    return hashlib.sha256(json.dumps(_semantic(template), sort_keys=True).encode()).hexdigest()[:10]


def scale(rs: dict[str, Any], replicas: int, available: int) -> None:
    rs["spec"]["replicas"] = replicas
    counts = {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": available,
              "availableReplicas": available, "observedGeneration": 1}  # fmt: skip
    rs["status"] = {k: v for k, v in counts.items() if v or k == "replicas"}  # status.replicas has no omitempty


def deployment_status(deployment: dict[str, Any], total: int, updated: int, available: int,
                      previous: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Counts as the controller reports them; zero counts are omitted like Go's omitempty."""
    wanted = deployment["spec"].get("replicas", 1)
    counts = {"observedGeneration": deployment["metadata"]["generation"], "replicas": total, "updatedReplicas": updated,
              "readyReplicas": available, "availableReplicas": available,
              "unavailableReplicas": max(0, wanted - available)}  # fmt: skip
    status: dict[str, Any] = {k: v for k, v in counts.items() if v}
    status["conditions"] = copy.deepcopy((previous or {}).get("conditions", []))
    if available >= wanted:
        _set_condition(status, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    else:
        _set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                       "Deployment does not have minimum availability.")  # fmt: skip
    return status


_PROGRESSING = {
    "NewReplicaSetCreated": ("True", 'Created new replica set "{}"'),
    "FoundNewReplicaSet": ("True", 'Found new replica set "{}"'),
    "ReplicaSetUpdated": ("True", 'ReplicaSet "{}" is progressing.'),
    "NewReplicaSetAvailable": ("True", 'ReplicaSet "{}" has successfully progressed.'),
    "ProgressDeadlineExceeded": ("False", 'ReplicaSet "{}" has timed out progressing.'),
}


def set_progressing(status: dict[str, Any], rs_name: str, reason: str) -> None:
    value, message = _PROGRESSING[reason]
    _set_condition(status, "Progressing", value, reason, message.format(rs_name))


def _set_condition(status: dict[str, Any], kind: str, value: str, reason: str, message: str) -> None:
    """Set a condition; lastTransitionTime moves only when its status flips, as the controller does."""
    now, conditions = timestamp(), status.setdefault("conditions", [])
    old = next((c for c in conditions if c["type"] == kind), None)
    if old is not None and old["status"] == value and old["reason"] == reason and old["message"] == message:
        return
    transition = old["lastTransitionTime"] if old is not None and old["status"] == value else now
    fresh = {"type": kind, "status": value, "lastUpdateTime": now, "lastTransitionTime": transition,
             "reason": reason, "message": message}  # fmt: skip
    status["conditions"] = [fresh if c is old else c for c in conditions] + ([fresh] if old is None else [])
