"""DeploymentCluster for the embedded profile with no cluster: remembers what it was told, nothing more.

Each target's Deployment is known only by what earlier plans set (kept in a small JSON file), so a
dry run still shows the old and new image, still finds a no-op or a stale push, and records every
plan in the journal; a "rollout" completes at once. Nothing here pretends to be a cluster beyond
that: `dry_run` is True and every result says so.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

UNKNOWN_IMAGE = "unknown (dry run: no cluster)"


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> None:
    """Strategic merge for what an image patch touches: maps merge, containers merge by name."""
    for key, value in patch.items():
        if key == "containers" and isinstance(value, list):
            by_name = {c["name"]: c for c in base.setdefault("containers", [])}
            for container in value:
                by_name.setdefault(container["name"], {"name": container["name"]}).update(container)
            base["containers"] = list(by_name.values())
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


class DryRunCluster:
    dry_run = True

    def __init__(self, path: Path, containers_of: Callable[[str, str], list[str]]) -> None:
        """`containers_of(namespace, name)`: the containers the targets name, to describe an unseen one."""
        self._path = Path(path)
        self._containers_of = containers_of
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        return json.loads(self._path.read_text()) if self._path.is_file() else {}

    def _save(self, state: dict[str, Any]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._path.with_suffix(".tmp")
        partial.write_text(json.dumps(state, indent=1, sort_keys=True))
        partial.replace(self._path)

    def _describe(self, namespace: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
        known = state.get(f"{namespace}/{name}")
        if known is None:
            containers = [{"name": c, "image": UNKNOWN_IMAGE} for c in self._containers_of(namespace, name)]
            known = {
                "metadata": {"name": name, "namespace": namespace, "generation": 1, "annotations": {}},
                "spec": {"replicas": 1, "template": {"spec": {"containers": containers}}},
            }
        deployment = copy.deepcopy(known)
        generation = deployment["metadata"]["generation"]
        deployment["status"] = {  # a dry run's rollout is over as soon as it is planned
            "observedGeneration": generation,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1,
        }
        return deployment

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._describe(namespace, name, self._load())

    def patch_deployment(self, namespace: str, name: str, patch: dict[str, Any] | list[dict[str, Any]]) -> dict:
        if not isinstance(patch, dict):
            raise ValueError("a dry run only plans image patches; it never rolls back")
        with self._lock:
            state = self._load()
            deployment = self._describe(namespace, name, state)
            deployment.pop("status")
            _merge(deployment, patch)
            deployment["metadata"]["generation"] += 1
            state[f"{namespace}/{name}"] = deployment
            self._save(state)
            return self._describe(namespace, name, state)

    def list_replicasets(self, namespace: str, match_labels: dict[str, str]) -> list[dict[str, Any]]:
        return []
