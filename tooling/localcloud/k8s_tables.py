"""Server-side printing for the Kubernetes API test server: `kubectl get` asks for a `Table`.

kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...` and prints the columns the
server chooses; these are the real API server's columns for Deployments (NAME, READY, UP-TO-DATE,
AVAILABLE, AGE) and ReplicaSets (NAME, DESIRED, CURRENT, READY, AGE). Each row carries the object's
metadata (`includeObject=Metadata`, the default), which kubectl reads for `-o name` and namespaces.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_COLUMNS = {
    "Deployment": [
        ("Name", "string"),
        ("Ready", "string"),
        ("Up-to-date", "integer"),
        ("Available", "integer"),
        ("Age", "string"),
    ],
    "ReplicaSet": [
        ("Name", "string"),
        ("Desired", "integer"),
        ("Current", "integer"),
        ("Ready", "integer"),
        ("Age", "string"),
    ],
}


def wants_table(accept: str | None) -> bool:
    return bool(accept) and "as=Table" in (accept or "")


def as_table(objects: list[dict[str, Any]], kind: str, resource_version: str) -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": kind_of,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": 0,
            }
            for name, kind_of in _COLUMNS[kind]
        ],
        "rows": [{"cells": _cells(obj, kind), "object": _metadata_only(obj)} for obj in objects],
    }


def _cells(obj: dict[str, Any], kind: str) -> list[Any]:
    spec, status, name = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]["name"]
    age = _age(obj["metadata"].get("creationTimestamp"))
    if kind == "Deployment":
        ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"
        return [name, ready, status.get("updatedReplicas", 0), status.get("availableReplicas", 0), age]
    return [name, spec.get("replicas", 0), status.get("replicas", 0), status.get("readyReplicas", 0), age]


def _metadata_only(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def _age(created: str | None) -> str:
    """How kubectl writes an age: 45s, 12m, 3h, 2d."""
    if not created:
        return "<unknown>"
    then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"
