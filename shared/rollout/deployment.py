"""Reading and changing an apps/v1 Deployment as JSON: the image it runs, the patch that moves it, and
the rollback `kubectl rollout undo` would do.

apps/v1 has no rollback API: kubectl finds the ReplicaSet of the previous revision and re-applies its
pod template (minus the `pod-template-hash` label the controller added) with a JSON patch. The
controller then reuses that ReplicaSet as the newest revision.
"""

from __future__ import annotations

import copy
from typing import Any

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
TEMPLATE_HASH = "pod-template-hash"
# Our own annotations on the Deployment: what the running image came from, for the next push.
PREFIX = "mlops-events.io/"
IMAGE_TAG = PREFIX + "image-tag"
PUSHED_AT = PREFIX + "pushed-at"
PREVIOUS_IMAGE = PREFIX + "previous-image"
EVENT_ID = PREFIX + "event-id"
ROLLED_BACK_FROM = PREFIX + "rolled-back-from"


def annotations(deployment: dict[str, Any]) -> dict[str, str]:
    return dict((deployment.get("metadata") or {}).get("annotations") or {})


def container_image(deployment: dict[str, Any], container: str) -> str | None:
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return next((c.get("image") for c in containers if c.get("name") == container), None)


def digest_of(image: str | None) -> str | None:
    """`repo@sha256:...` -> `sha256:...`; an image named by tag has no digest."""
    if not image or "@" not in image:
        return None
    return image.rsplit("@", 1)[1]


def image_patch(container: str, image: str, notes: dict[str, str]) -> dict[str, Any]:
    """A strategic merge patch: containers merge by name, so only this container's image changes."""
    return {
        "metadata": {"annotations": notes},
        "spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}},
    }


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int(annotations(obj).get(REVISION, "0"))
    except ValueError:
        return 0


def _owned_by(replicaset: dict[str, Any], deployment: dict[str, Any]) -> bool:
    uid = (deployment.get("metadata") or {}).get("uid")
    owners = (replicaset.get("metadata") or {}).get("ownerReferences") or []
    return any(o.get("kind") == "Deployment" and o.get("uid") == uid for o in owners) if uid else True


def previous_template(
    deployment: dict[str, Any], replicasets: list[dict[str, Any]]
) -> tuple[int, dict[str, Any]] | None:
    """(revision, pod template) of the newest ReplicaSet older than the Deployment's current revision."""
    current = _revision(deployment)
    older = [rs for rs in replicasets if _owned_by(rs, deployment) and 0 < _revision(rs) < current]
    if not older:
        return None
    replicaset = max(older, key=_revision)
    template = copy.deepcopy((replicaset.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(TEMPLATE_HASH, None)
    return _revision(replicaset), template


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def rollback_patch(deployment: dict[str, Any], template: dict[str, Any], notes: dict[str, str]) -> list[dict]:
    """The JSON patch kubectl's undo sends, guarded by a `test` of the template it replaces: if someone
    changed the Deployment meanwhile, the patch fails (422) rather than undoing their change."""
    current_template = (deployment.get("spec") or {}).get("template") or {}
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/spec/template", "value": current_template},
        {"op": "replace", "path": "/spec/template", "value": template},
    ]
    if not annotations(deployment):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    ops += [{"op": "add", "path": f"/metadata/annotations/{_pointer(k)}", "value": v} for k, v in notes.items()]
    return ops
