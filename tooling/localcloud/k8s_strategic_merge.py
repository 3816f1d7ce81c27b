"""The strategic-merge-patch subset the rollout needs, for the Kubernetes API test server.

Kubernetes' strategic merge is a JSON merge patch (maps merge, null deletes, lists replace) except where the
type's schema names a merge key: there a list merges item by item. For a Deployment the rollout patches
`spec.template.spec.containers` and `initContainers`, keyed by `name`; those two lists are merged here, and the
rest is left to the merge patch. `$setElementOrder/<list>` on those two lists (kubectl sends it with every
patch it computes, `kubectl set image` for one) orders the merged list as it says; other `$` directives
(`$patch`, `$retainKeys`, `$deleteFromPrimitiveList`, ...) are refused with 400 rather than misapplied.
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
    orders = {}
    for key, value in patch.items():
        here = (*path, key)
        if key.startswith("$setElementOrder/") and (*path, key.partition("/")[2]) in MERGE_BY_NAME:
            orders[key.partition("/")[2]] = value
            continue
        if key.startswith("$"):
            raise PatchRejected(400, f"strategic merge directive {key} is not modeled by this test server")
        if here in MERGE_BY_NAME and isinstance(value, list):
            resolved[key] = _merge_by_name(current.get(key) or [], value, here)
        else:
            resolved[key] = _resolved(current.get(key), value, here)
    for key, order in orders.items():
        merged = resolved[key] if key in resolved else copy.deepcopy(current.get(key) or [])
        resolved[key] = _ordered(merged, order, (*path, key))
    return resolved


def _ordered(items: list[Any], order: Any, path: tuple[str, ...]) -> list[Any]:
    """`items` in the order `$setElementOrder` names them ({"name": ...} each); items it does not name follow."""
    if not isinstance(order, list) or not all(isinstance(o, dict) and "name" in o for o in order):
        raise PatchRejected(400, f"{'.'.join(path)}: $setElementOrder must list {{name: ...}} items")
    rank = {o["name"]: i for i, o in enumerate(order)}
    return sorted(items, key=lambda item: rank.get(item.get("name"), len(rank)))


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
