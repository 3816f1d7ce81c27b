"""The strategic-merge-patch subset the rollout needs, for the Kubernetes API test server.

Kubernetes' strategic merge is a JSON merge patch (maps merge, null deletes, lists replace) except where the
type's schema names a merge key: there a list merges item by item. For a Deployment the rollout patches
`spec.template.spec.containers` and `initContainers`, keyed by `name`; those two lists are merged here, and the
rest is left to the merge patch. `$` directives (`$patch`, `$setElementOrder`, `$retainKeys`, ...) are refused
with 400 rather than misapplied.
"""

from __future__ import annotations

import copy
from typing import Any

from tooling.localcloud.k8s_patch import PatchRejected, merge_patch

MERGE_BY_NAME = {("spec", "template", "spec", "containers"), ("spec", "template", "spec", "initContainers")}


def strategic_merge_patch(doc: Any, patch: Any) -> Any:
    return _merge(doc, patch, ())


def _merge(doc: Any, patch: Any, path: tuple[str, ...]) -> Any:
    return merge_patch(doc, _resolved(doc, patch, path))


def _resolved(doc: Any, patch: Any, path: tuple[str, ...]) -> Any:
    """`patch` with each name-keyed list replaced by its merge with `doc`'s, so a plain merge patch finishes it."""
    if not isinstance(patch, dict):
        return patch
    current = doc if isinstance(doc, dict) else {}
    resolved = {}
    for key, value in patch.items():
        here = (*path, key)
        if key.startswith("$"):
            raise PatchRejected(400, f"strategic merge directive {key} is not modeled by this test server")
        if here in MERGE_BY_NAME and isinstance(value, list):
            resolved[key] = _merge_by_name(current.get(key) or [], value, here)
        else:
            resolved[key] = _resolved(current.get(key), value, here)
    return resolved


def _merge_by_name(current: list[Any], patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    """Items merge into the current item of the same `name`, or are appended; the others stay in place."""
    merged = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or "name" not in item:
            raise PatchRejected(400, f"{'.'.join(path)}: element does not contain merge key: name")
        at = next((i for i, c in enumerate(merged) if c.get("name") == item["name"]), None)
        if at is None:
            merged.append(_merge({}, item, (*path, "[]")))
        else:
            merged[at] = _merge(merged[at], item, (*path, "[]"))
    return merged
