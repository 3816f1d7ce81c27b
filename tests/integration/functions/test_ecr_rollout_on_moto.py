"""ecr_rollout on the emulators profile: idempotency in DynamoDB, targets in SSM, the kubeconfig and
the Slack webhook in Secrets Manager (all moto server), the cluster the Kubernetes API test server.
Duplicate and concurrent deliveries of one push give one rollout."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from shared.errors import AlreadyInProgressError
from shared.rollout import deployment as k8s
from tooling.fixture_factory import ecr_image_action_event
from tooling.local_lambda import invoke
from tooling.localcloud.k8s_api_server import KubernetesApiServer
from tooling.manifest import function_named

pytestmark = pytest.mark.integration
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD = f"{REGISTRY}/ml/inference@sha256:{'a' * 64}"
DIGEST = f"sha256:{'b' * 64}"
TABLE = "mlops-events-idempotency-test"
SPEC = function_named("ecr_rollout")
TARGETS = "targets:\n  - {repository: ml/inference, namespace: ml, deployment: inference, container: server}\n"


@pytest.fixture
def cloud(aws, tmp_path, monkeypatch, slack) -> KubernetesApiServer:
    """What the cloud has, on moto: the table, the parameter, the two secrets; and a token-guarded cluster."""
    server = KubernetesApiServer(token="cluster-token-for-tests")
    server.add_deployment("ml", "inference", OLD, container="server")
    kubeconfig = Path(server.kubeconfig(tmp_path / "kubeconfig")).read_text()
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("ssm").put_parameter(Name="/mlops-events/rollout-targets", Value=TARGETS, Type="String")
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="rollout-kubeconfig", SecretString=kubeconfig)
    secrets.create_secret(Name="slack-webhook", SecretString=slack.url)
    for name, value in {
        "MLOPS_EVENTS_PROFILE": "emulators",
        "MLOPS_EVENTS_STATE_DIR": str(tmp_path / "state"),
        "MLOPS_EVENTS_IDEMPOTENCY_TABLE": TABLE,
        "MLOPS_EVENTS_ROLLOUT_TARGETS_PARAMETER": "/mlops-events/rollout-targets",
        "MLOPS_EVENTS_KUBECONFIG_SECRET": "rollout-kubeconfig",
        "MLOPS_EVENTS_SLACK_WEBHOOK_AWS_SECRET": "slack-webhook",
        "MLOPS_EVENTS_ROLLOUT_POLL_S": "0.01",
        "MLOPS_EVENTS_ROLLOUT_MARGIN_S": "0",
    }.items():
        monkeypatch.setenv(name, value)
    for variable in ("KUBECONFIG", "MLOPS_EVENTS_KUBECONFIG", "MLOPS_EVENTS_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(variable, raising=False)
    yield server
    server.stop()


def push(event_id: str, tag: str = "1.0.0") -> dict:
    return ecr_image_action_event(
        "ml/inference", DIGEST, tag=tag, time=datetime(2026, 11, 25, 14, tzinfo=UTC), event_id=event_id
    )


def image_patches(server: KubernetesApiServer) -> int:
    return sum(1 for r in server.requests if r.method == "PATCH")


def test_a_push_rolls_out_once_however_often_it_is_delivered(cloud, slack):
    first = invoke(SPEC, push("evt-1"))
    again = invoke(SPEC, push("evt-1"))  # EventBridge's at-least-once delivery
    retagged = invoke(SPEC, push("evt-2", tag="stable"))  # the same digest under another tag

    assert (first["outcome"], first["statuses"]) == ("applied", ["succeeded"]), first
    assert [again["outcome"], retagged["outcome"]] == ["duplicate", "duplicate"]
    assert "already rolled out by event evt-1" in retagged["detail"]
    assert image_patches(cloud) == 1
    assert k8s.container_image(cloud.deployment("ml", "inference"), "server") == f"{REGISTRY}/ml/inference@{DIGEST}"
    assert len(slack.posts) == 1 and "Rollout of ml/inference:1.0.0: succeeded" in slack.posts[0]["text"]
    # The record powertools keeps in DynamoDB: completed, with the rollout's result
    [item] = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert item["status"]["S"] == "COMPLETED" and '"succeeded"' in item["data"]["S"]


def test_concurrent_deliveries_give_one_rollout_and_retries_for_the_others(cloud, slack):
    cloud.fail_image(f"{REGISTRY}/ml/inference@{DIGEST}", "never_available")  # keep the first one busy a while
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def deliver(i: int) -> None:
        barrier.wait()
        try:
            # Long enough that the first one's in-progress record (which expires with its invocation's
            # time) is still valid when the others, slowed by building their clients, arrive.
            outcomes.append(invoke(SPEC, push("evt-1"), timeout_s=4)["outcome"])
        except AlreadyInProgressError:
            outcomes.append("retry")  # the invocation fails: Lambda retries it later

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["applied", "retry", "retry", "retry"], outcomes
    assert image_patches(cloud) == 1
    assert invoke(SPEC, push("evt-1"))["outcome"] == "duplicate"  # the retries, once it completed


def test_a_wrong_token_is_a_configuration_error_until_the_secret_is_rotated(cloud, monkeypatch):
    import json

    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="rollout-bad-token", SecretString=json.dumps({"server": cloud.url, "token": "nope"}))
    monkeypatch.setenv("MLOPS_EVENTS_KUBECONFIG_SECRET", "rollout-bad-token")
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="refused our credentials"):
        invoke(SPEC, push("evt-bad"))

    # WHEN the secret is rotated to a good token, the retry in the same container picks it up
    secrets.put_secret_value(
        SecretId="rollout-bad-token", SecretString=json.dumps({"server": cloud.url, "token": "cluster-token-for-tests"})
    )
    assert invoke(SPEC, push("evt-bad"))["statuses"] == ["succeeded"]


def test_a_broken_kubeconfig_secret_is_named_without_echoing_it(cloud, monkeypatch):
    secret = "users: [{name: u, user: {token: SECRET-TOKEN-abc123\n  bad: [unclosed"
    boto3.client("secretsmanager").create_secret(Name="rollout-broken", SecretString=secret)
    monkeypatch.setenv("MLOPS_EVENTS_KUBECONFIG_SECRET", "rollout-broken")
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="kubeconfig unusable: not YAML at line") as broken:
        invoke(SPEC, push("evt-1"))
    assert "SECRET-TOKEN" not in str(broken.value)
