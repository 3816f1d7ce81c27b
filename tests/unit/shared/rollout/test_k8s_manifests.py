"""Every Kubernetes manifest in the repository is valid against the API's schemas (kubernetes-validate,
strict: an unknown field is an error), and the Deployments the rollout targets exist as configured."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from shared.rollout.targets import parse_targets
from tooling.manifest import REPO_ROOT

K8S_VERSION = "1.31.0"  # k3s stable channel's minor at the time of writing
MANIFESTS = sorted((REPO_ROOT / "containers").glob("**/k8s/*.yaml"))


def documents():
    for path in MANIFESTS:
        for i, document in enumerate(yaml.safe_load_all(path.read_text())):
            if document:
                yield pytest.param(document, id=f"{path.relative_to(REPO_ROOT)}#{i}")


def test_there_are_manifests_to_check():
    assert MANIFESTS


@pytest.mark.parametrize("document", list(documents()))
def test_manifest_is_valid_for_the_api(document):
    kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def test_an_invalid_manifest_would_be_caught():
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_sample_rollout_target_names_a_deployment_and_container_of_the_manifests():
    deployments = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): {
            c["name"] for c in d["spec"]["template"]["spec"]["containers"]
        }
        for path in MANIFESTS
        for d in yaml.safe_load_all(path.read_text())
        if d and d["kind"] == "Deployment"
    }
    targets = parse_targets((REPO_ROOT / "events" / "ecr" / "targets.yaml").read_text(), "targets.yaml")
    [production] = [t for t in targets.targets if t.namespace == "ml-serving"]
    assert production.container in deployments[(production.namespace, production.deployment)]
