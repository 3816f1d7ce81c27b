"""The discovery documents of the Kubernetes API test server: what kubectl reads before any request.

kubectl (and client-go's discovery) first asks `/api` and `/apis` which groups and versions exist, then
`/apis/apps/v1` which resources a version serves, their kinds, verbs and short names (`deploy`, `rs`).
These answer for exactly what the server implements, apps/v1 Deployments and ReplicaSets, in the
legacy (unaggregated) shapes; kubectl asks for the aggregated v2 form first and reads these when the
answer comes as plain `application/json`, as older servers answer.
"""

from __future__ import annotations

from typing import Any

GIT_VERSION = "v1.32.0-mlops-events-test"

_RESOURCES = [
    {
        "name": "deployments",
        "singularName": "deployment",
        "namespaced": True,
        "kind": "Deployment",
        "verbs": ["get", "list", "patch", "watch"],
        "shortNames": ["deploy"],
        "categories": ["all"],
    },
    {"name": "deployments/status", "singularName": "", "namespaced": True, "kind": "Deployment", "verbs": ["get"]},
    {
        "name": "replicasets",
        "singularName": "replicaset",
        "namespaced": True,
        "kind": "ReplicaSet",
        "verbs": ["get", "list"],
        "shortNames": ["rs"],
        "categories": ["all"],
    },
]


def discovery_document(path: str, server_address: str) -> dict[str, Any] | None:
    """The document at `path`, or None when the path is not a discovery path."""
    apps_v1 = {"groupVersion": "apps/v1", "version": "v1"}
    apps = {"name": "apps", "versions": [apps_v1], "preferredVersion": apps_v1}
    documents: dict[str, dict[str, Any]] = {
        "/version": {"major": "1", "minor": "32", "gitVersion": GIT_VERSION, "platform": "linux/amd64"},
        "/api": {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        },
        "/api/v1": {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": []},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [apps]},
        "/apis/apps": {"kind": "APIGroup", "apiVersion": "v1", **apps},
        "/apis/apps/v1": {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "apps/v1",
            "resources": _RESOURCES,
        },
    }
    return documents.get(path.rstrip("/") or "/")
