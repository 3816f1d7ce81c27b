"""The Kubernetes API test server as the ECR rollout tests set it up: two Deployments following
ml/inference on the old digest, the rollout targets file, and the embedded profile pointed at them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tooling.localcloud.k8s_api_server import KubernetesApiServer

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD = f"{REGISTRY}/ml/inference@sha256:{'1' * 64}"
TARGETS = """
targets:
  - {repository: ml/inference, namespace: ml-serving, deployment: inference, container: server, policy: "semver:^1"}
  - {repository: ml/inference, namespace: ml-staging, deployment: inference, container: server, policy: all}
"""


def serve_test_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KubernetesApiServer:
    """A started server; the caller stops it."""
    server = KubernetesApiServer()
    for namespace in ("ml-serving", "ml-staging"):
        server.add_deployment(namespace, "inference", OLD, container="server", replicas=2)
    (tmp_path / "targets.yaml").write_text(TARGETS)
    for name, value in {
        "MLOPS_EVENTS_PROFILE": "embedded",
        "MLOPS_EVENTS_STATE_DIR": str(tmp_path / "state"),
        "MLOPS_EVENTS_ROLLOUT_TARGETS_FILE": str(tmp_path / "targets.yaml"),
        "MLOPS_EVENTS_KUBECONFIG": server.kubeconfig(tmp_path / "kubeconfig"),
        "MLOPS_EVENTS_ROLLOUT_POLL_S": "0.01",
        "MLOPS_EVENTS_ROLLOUT_MARGIN_S": "0",
    }.items():
        monkeypatch.setenv(name, value)
    for variable in ("KUBECONFIG", "MLOPS_EVENTS_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(variable, raising=False)
    return server
