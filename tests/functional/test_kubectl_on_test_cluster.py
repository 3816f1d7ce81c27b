"""Real kubectl against the Kubernetes API test server, as a user looks at `up`'s cluster.

GIVEN the test server over HTTPS with a bearer token and a CA of its own, and the kubeconfig it writes
WHEN the gcloud SDK's kubectl runs the commands a user runs on a rollout
THEN discovery, `get` (server-side printed tables), `set image`, `rollout status` (a list and a watch),
`rollout history` and `rollout undo` all work, and the image moves and moves back; a wrong token is
refused (401) and a client that does not trust the CA gets no answer at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tooling.localcloud.k8s_api_server import KubernetesApiServer

IMAGE_1 = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml/inference:1.2.0"
IMAGE_2 = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml/inference:1.3.0"


@pytest.fixture(scope="module")
def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail("kubectl (the gcloud SDK's) is not installed in CI")
        pytest.skip("kubectl is not installed")
    return found


@pytest.fixture
def cluster(tmp_path):
    with KubernetesApiServer(token="a-test-token", tls=True) as server:
        server.add_deployment("ml", "inference", IMAGE_1, container="server", labels={"app": "inference"})
        server.add_deployment("ml", "batch", IMAGE_1, container="job", replicas=1, labels={"app": "batch"})
        yield server, server.kubeconfig(tmp_path / "kubeconfig")


def run(kubectl: str, kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(Path(kubeconfig).parent), "KUBECONFIG": kubeconfig}
    return subprocess.run([kubectl, "-n", "ml", *args], env=env, capture_output=True, text=True, timeout=60)


def ok(kubectl: str, kubeconfig: str, *args: str) -> str:
    done = run(kubectl, kubeconfig, *args)
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def image(kubectl: str, kubeconfig: str) -> str:
    return ok(
        kubectl, kubeconfig, "get", "deploy", "inference", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    )


def test_a_rollout_and_its_undo_through_kubectl(kubectl, cluster):
    server, kubeconfig = cluster
    assert "Server Version: v1.32" in ok(kubectl, kubeconfig, "version")
    listed = ok(kubectl, kubeconfig, "get", "deployments").splitlines()
    assert listed[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert [row.split()[:2] for row in listed[1:]] == [["batch", "1/1"], ["inference", "2/2"]]
    assert ok(kubectl, kubeconfig, "get", "deploy", "-o", "name").split() == [
        "deployment.apps/batch",
        "deployment.apps/inference",
    ]

    assert "image updated" in ok(kubectl, kubeconfig, "set", "image", "deployment/inference", f"server={IMAGE_2}")
    status = ok(kubectl, kubeconfig, "rollout", "status", "deployment/inference", "--timeout=30s")
    assert status.strip().splitlines()[-1] == 'deployment "inference" successfully rolled out'
    assert image(kubectl, kubeconfig) == IMAGE_2
    history = ok(kubectl, kubeconfig, "rollout", "history", "deployment/inference")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]

    assert "rolled back" in ok(kubectl, kubeconfig, "rollout", "undo", "deployment/inference")
    ok(kubectl, kubeconfig, "rollout", "status", "deployment/inference", "--timeout=30s")
    assert image(kubectl, kubeconfig) == IMAGE_1
    assert server.deployment("ml", "inference")["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    replica_sets = ok(kubectl, kubeconfig, "get", "rs", "-l", "app=inference").splitlines()
    assert replica_sets[0].split()[:4] == ["NAME", "DESIRED", "CURRENT", "READY"]
    assert sorted(row.split()[1] for row in replica_sets[1:]) == ["0", "2"]  # the old one scaled down
    assert (
        ok(kubectl, kubeconfig, "get", "deploy", "batch", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
        == IMAGE_1
    )


def test_rollout_status_reports_a_failed_rollout(kubectl, cluster):
    server, kubeconfig = cluster
    server.fail_image(IMAGE_2, "deadline")
    ok(kubectl, kubeconfig, "set", "image", "deployment/inference", f"server={IMAGE_2}")
    done = run(kubectl, kubeconfig, "rollout", "status", "deployment/inference", "--timeout=30s")
    assert done.returncode != 0
    assert 'deployment "inference" exceeded its progress deadline' in done.stderr


def test_a_wrong_token_and_an_untrusted_ca_are_refused(kubectl, cluster, tmp_path):
    _, kubeconfig = cluster
    config = yaml.safe_load(Path(kubeconfig).read_text())
    config["users"][0]["user"]["token"] = "not-the-token"
    wrong_token = tmp_path / "wrong-token"
    wrong_token.write_text(yaml.safe_dump(config))
    done = run(kubectl, str(wrong_token), "get", "deployments")
    assert done.returncode != 0 and "You must be logged in to the server" in done.stderr  # 401

    config = yaml.safe_load(Path(kubeconfig).read_text())
    del config["clusters"][0]["cluster"]["certificate-authority-data"]
    untrusted = tmp_path / "untrusted"
    untrusted.write_text(yaml.safe_dump(config))
    done = run(kubectl, str(untrusted), "get", "deployments")
    assert done.returncode != 0 and "certificate" in done.stderr
