"""`up --kubeconfig FILE --context C`: the rollout Lambda drives a cluster the user names, reached through their
kubeconfig as kind's or k3s's would be (here the Kubernetes API test server, serving HTTPS with its own CA,
started by the test, not by `up`), and nothing is deployed on it by `up`."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path

import pytest
import yaml

from tests.support.local_cloud import RunningUp
from tooling.localcloud.k8s_api_server import KubernetesApiServer

pytestmark = pytest.mark.integration

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def image_manifest() -> str:
    layer = {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1}
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {**layer, "digest": "sha256:" + uuid.uuid4().hex * 2},
            "layers": [{**layer, "digest": "sha256:" + uuid.uuid4().hex * 2}],
        }
    )


def users_kubeconfig(folder: Path, cluster: KubernetesApiServer) -> Path:
    """A kubeconfig as users have them: several contexts, the current one elsewhere, the CA and the token in
    files named relative to the kubeconfig."""
    assert cluster.ca_pem and cluster.token
    (folder / "ca.pem").write_bytes(cluster.ca_pem)
    (folder / "token").write_text(cluster.token + "\n")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "production",
        "clusters": [
            {"name": "prod", "cluster": {"server": "https://192.0.2.1:6443"}},
            {"name": "kind-local", "cluster": {"server": cluster.url, "certificate-authority": "ca.pem"}},
        ],
        "users": [
            {"name": "prod-admin", "user": {"token": "not-this-one"}},
            {"name": "dev", "user": {"tokenFile": "token"}},
        ],
        "contexts": [
            {"name": "production", "context": {"cluster": "prod", "user": "prod-admin"}},
            {"name": "kind-local", "context": {"cluster": "kind-local", "user": "dev"}},
        ],
    }
    path = folder / "config"
    path.write_text(yaml.safe_dump(config))
    return path


def test_rollouts_go_to_the_cluster_the_kubeconfig_context_names(tmp_path: Path):
    # GIVEN the user's cluster, with the Deployments the targets name on an old image
    cluster = KubernetesApiServer(token=secrets.token_hex(16), tls=True)
    try:
        old = f"{REGISTRY}/ml/inference:1.0.0"
        for namespace in ("ml-serving", "ml-staging"):
            cluster.add_deployment(namespace, "inference", old, container="server")
        kubeconfig = users_kubeconfig(tmp_path, cluster)
        (tmp_path / "up").mkdir()
        # WHEN up runs the Lambda against it
        running = RunningUp.start(
            tmp_path / "up",
            *("--only", "ecr_rollout", "--kubeconfig", str(kubeconfig), "--context", "kind-local"),
            *("--no-schedules", "--backoff-scale", "0.02"),
        )
        try:
            # THEN no test server was started: up.json names the user's cluster
            assert running.state["kubernetes_api"] == cluster.url
            assert running.state["kubernetes_context"] == "kind-local"
            assert not (running.state_dir / "kubeconfig").exists()
            # WHEN an image is pushed to the local ECR
            import boto3

            ecr = boto3.client(
                "ecr",
                endpoint_url=running.state["emulators"]["moto"]["url"],
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            pushed = ecr.put_image(repositoryName="ml/inference", imageManifest=image_manifest(), imageTag="1.6.0")
            digest = pushed["image"]["imageId"]["imageDigest"]
            running.wait_for(
                lambda events: [
                    e
                    for e in events
                    if e["function"] == "ecr_rollout" and digest[:19] in e["subject"] and e["outcome"] == "applied"
                ],
                "rollout",
                timeout_s=60,
            )
        finally:
            assert running.interrupt() == 0, running.console()[-3000:]
        # THEN both Deployments on the user's cluster run the pushed digest, rolled by the Lambda's requests
        for namespace in ("ml-serving", "ml-staging"):
            [container] = cluster.deployment(namespace, "inference")["spec"]["template"]["spec"]["containers"]
            assert container["image"].endswith(digest), container["image"]
        assert any(r.method == "PATCH" for r in cluster.requests)
    finally:
        cluster.stop()
