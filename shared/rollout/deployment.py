"""Reading and changing an apps/v1 Deployment as JSON: the image it runs, the patch that moves it, and
the rollback `kubectl rollout undo` would do.

apps/v1 has no rollback API: kubectl finds the ReplicaSet of the previous revision and re-applies its
pod template (minus the `pod-template-hash` label the controller added) with a JSON patch. The
controller then reuses that ReplicaSet as the newest revision.
"""

from __future__ import annotations

import copy
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from shared.payloads.ecr import is_digest, is_tag

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
TEMPLATE_HASH = "pod-template-hash"
# Our own annotations on the Deployment, one set per container (a sidecar from another repository
# has pushes of its own): what the running image came from, for the next push.
PREFIX = "mlops-events.io/"
IMAGE_TAG, PUSHED_AT, PREVIOUS_IMAGE, EVENT_ID, ROLLED_BACK_FROM = (
    "image-tag",
    "pushed-at",
    "previous-image",
    "event-id",
    "rolled-back-from",
)
# What `kubectl rollout undo` keeps from the Deployment rather than take from the ReplicaSet.
_KEPT_ON_UNDO = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


def note_key(container: str, what: str) -> str:
    """`mlops-events.io/<container>.<what>`; an annotation's name part is at most 63 characters."""
    name = f"{container}.{what}"
    if len(name) > 63:
        name = f"{hashlib.sha256(container.encode()).hexdigest()[:16]}.{what}"
    return PREFIX + name


# An image reference as the distribution library's grammar has it (registry host and port, path
# components, a tag and/or a digest), bounded: what a previous-image annotation must look like to be used.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?/)?"
    rf"{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?"
)


def is_image(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 512 and _IMAGE.fullmatch(value) is not None


def pushed_at(deployment: dict[str, Any], container: str, *, not_after: datetime | None = None) -> datetime | None:
    """The push time our annotation recorded for the container's image; None if absent, unreadable or
    later than `not_after` (a hand-edited value, or one an unchecked event once wrote, must neither
    crash the rollout nor freeze it: the stale check is then skipped)."""
    raw = annotations_of(deployment).get(note_key(container, PUSHED_AT))
    try:
        value = datetime.fromisoformat(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        return None
    value = value.replace(tzinfo=UTC) if value and value.tzinfo is None else value
    return None if value and not_after and value > not_after else value


def recorded_tag(deployment: dict[str, Any], container: str) -> str | None:
    """The tag our annotation recorded for the container's image; None (unknown) unless it is an OCI tag."""
    raw = annotations_of(deployment).get(note_key(container, IMAGE_TAG))
    return raw if is_tag(raw) else None


def recorded_previous_image(deployment: dict[str, Any], container: str) -> str | None:
    """The image our annotation says the container ran before; None (unknown) unless it reads as an image."""
    raw = annotations_of(deployment).get(note_key(container, PREVIOUS_IMAGE))
    return raw if is_image(raw) else None


def annotations_of(deployment: dict[str, Any]) -> dict[str, str]:
    return dict((deployment.get("metadata") or {}).get("annotations") or {})


def container_image(deployment: dict[str, Any], container: str) -> str | None:
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return next((c.get("image") for c in containers if c.get("name") == container), None)


def digest_of(image: str | None) -> str | None:
    """`repo@sha256:...` -> `sha256:...`; an image named by tag, or by anything but a sha256 digest, has none."""
    if not isinstance(image, str) or "@" not in image:
        return None
    digest = image.rsplit("@", 1)[1]
    return digest if is_digest(digest) else None


def image_patch(images: dict[str, str], notes: dict[str, str], resource_version: str | None) -> dict[str, Any]:
    """A strategic merge patch: containers merge by name, so only these containers' images change.
    The resourceVersion read makes it conditional: if the Deployment changed since (another push's
    rollout), the API answers 409 and the decision is taken again on what it is now."""
    metadata: dict[str, Any] = {"annotations": notes}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    containers = [{"name": name, "image": image} for name, image in images.items()]
    return {"metadata": metadata, "spec": {"template": {"spec": {"containers": containers}}}}


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int(annotations_of(obj).get(REVISION, "0"))
    except ValueError:
        return 0


def _owned_by(replicaset: dict[str, Any], deployment: dict[str, Any]) -> bool:
    uid = (deployment.get("metadata") or {}).get("uid")
    owners = (replicaset.get("metadata") or {}).get("ownerReferences") or []
    return any(o.get("kind") == "Deployment" and o.get("uid") == uid for o in owners) if uid else True


def previous_revision(deployment: dict[str, Any], replicasets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest ReplicaSet of this Deployment older than its current revision."""
    current = _revision(deployment)
    older = [rs for rs in replicasets if _owned_by(rs, deployment) and 0 < _revision(rs) < current]
    return max(older, key=_revision) if older else None


def template_of(replicaset: dict[str, Any]) -> dict[str, Any]:
    """The ReplicaSet's pod template minus the `pod-template-hash` label the controller added."""
    template = copy.deepcopy((replicaset.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(TEMPLATE_HASH, None)
    return template


def revision_of(replicaset: dict[str, Any]) -> int:
    return _revision(replicaset)


def rollback_patch(deployment: dict[str, Any], replicaset: dict[str, Any], notes: dict[str, str]) -> list[dict]:
    """The JSON patch kubectl's undo sends: the old pod template, and the annotations of that revision
    (the ReplicaSet keeps the Deployment's annotations of its time: the failed push's tag and push time
    go with it), guarded by a `test` of the template it replaces, so that a change someone made in
    between makes the patch fail (422) rather than be undone."""
    current_template = (deployment.get("spec") or {}).get("template") or {}
    current = annotations_of(deployment)
    restored = {k: v for k, v in current.items() if k in _KEPT_ON_UNDO}
    restored.update({k: v for k, v in annotations_of(replicaset).items() if k not in _KEPT_ON_UNDO})
    restored.update(notes)
    return [
        {"op": "test", "path": "/spec/template", "value": current_template},
        {"op": "replace", "path": "/spec/template", "value": template_of(replicaset)},
        {"op": "add", "path": "/metadata/annotations", "value": restored},  # add replaces an existing member
    ]
