"""ecr_rollout end to end through its real Lambda handler, the real kubernetes client and the
Kubernetes API test server (tests/k8s_api_server.py): success, no-op, stale, failure with rollback,
time running out, duplicates, and what the cluster refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.adapters.jsonl_rollout_journal import JsonlRolloutJournal
from shared.event_factory import ecr_image_action_event
from shared.local_lambda import invoke
from shared.manifest import function_named
from shared.rollout import deployment as k8s
from tests.k8s_api_server import KubernetesApiServer

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OLD = f"{REGISTRY}/ml/inference@sha256:{'1' * 64}"
NEW_DIGEST = f"sha256:{'2' * 64}"
NEW = f"{REGISTRY}/ml/inference@{NEW_DIGEST}"
PUSHED = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
TARGETS = """
targets:
  - {repository: ml/inference, namespace: ml-serving, deployment: inference, container: server, policy: "semver:^1"}
  - {repository: ml/inference, namespace: ml-staging, deployment: inference, container: server, policy: all}
"""
SPEC = function_named("ecr_rollout")


@pytest.fixture
def cluster(tmp_path, monkeypatch) -> KubernetesApiServer:
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
    monkeypatch.delenv("KUBECONFIG", raising=False)
    yield server
    server.stop()


def push(tag: str | None = "1.3.0", digest: str = NEW_DIGEST, minutes: int = 0, event_id: str = "evt-1") -> dict:
    when = PUSHED + timedelta(minutes=minutes)
    return ecr_image_action_event("ml/inference", digest, tag=tag, time=when, event_id=event_id)


def patches(server: KubernetesApiServer) -> list:
    return [r for r in server.requests if r.method == "PATCH"]


def slack_posts(tmp_path: Path) -> list[dict]:
    outbox = tmp_path / "state" / "slack-outbox.jsonl"
    return [json.loads(line) for line in outbox.read_text().splitlines()] if outbox.exists() else []


def test_a_push_rolls_both_targets_to_the_pinned_digest_and_says_so(cluster, tmp_path):
    # WHEN a release tag is pushed
    result = invoke(SPEC, push())

    # THEN both Deployments run the image pinned by digest, with the tag and history in annotations
    assert result["outcome"] == "applied" and result["statuses"] == ["succeeded", "succeeded"], result
    for namespace in ("ml-serving", "ml-staging"):
        deployment = cluster.deployment(namespace, "inference")
        assert k8s.container_image(deployment, "server") == NEW
        notes = k8s.annotations(deployment)
        assert notes[k8s.IMAGE_TAG] == "1.3.0" and notes[k8s.PREVIOUS_IMAGE] == OLD
        assert notes[k8s.PUSHED_AT] == PUSHED.isoformat() and "ml/inference:1.3.0" in notes[k8s.CHANGE_CAUSE]
        assert notes[k8s.REVISION] == "2"
    # The patch is a strategic merge of one container's image, not a replace of the template
    assert {r.content_type for r in patches(cluster)} == {"application/strategic-merge-patch+json"}
    [post] = slack_posts(tmp_path)
    assert "Rollout of ml/inference:1.3.0: succeeded" in post["text"]
    assert "sha256:111111111111" in json.dumps(post["blocks"]) and "sha256:222222222222" in json.dumps(post["blocks"])
    journal = JsonlRolloutJournal(tmp_path / "state" / "rollouts.jsonl").entries()
    assert [(e["target"], e["status"]) for e in journal] == [
        ("ml-serving/inference:server", "succeeded"),
        ("ml-staging/inference:server", "succeeded"),
    ]


def test_a_duplicate_event_rolls_out_once(cluster, tmp_path):
    invoke(SPEC, push())
    before = len(patches(cluster))

    # WHEN the same image arrives under another id and tag (a re-tag after the record expired, say)
    cluster_state = cluster.deployment("ml-serving", "inference")
    result = invoke(SPEC, push(tag="1.3.0", event_id="evt-2", digest=k8s.digest_of(NEW)))

    # THEN the idempotency record answers, and nothing is patched
    assert result["outcome"] == "duplicate" and "already rolled out by event evt-1" in result["detail"]
    assert len(patches(cluster)) == before and cluster.deployment("ml-serving", "inference") == cluster_state
    assert len(slack_posts(tmp_path)) == 1


def test_no_op_when_the_deployment_runs_the_digest_already(cluster, tmp_path):
    cluster.add_deployment("ml-serving", "inference", NEW, container="server")  # set by hand, say
    cluster.add_deployment("ml-staging", "inference", NEW, container="server")

    result = invoke(SPEC, push())

    assert result["statuses"] == ["noop", "noop"] and "noop" in result["detail"]
    assert patches(cluster) == [] and slack_posts(tmp_path) == []


def test_a_delayed_older_push_never_moves_a_deployment_backwards(cluster):
    invoke(SPEC, push(minutes=10))  # the newer push, delivered first

    older = push(tag="1.2.9", digest=f"sha256:{'3' * 64}", minutes=0, event_id="evt-old")
    result = invoke(SPEC, older)

    assert result["statuses"] == ["stale", "stale"]
    assert k8s.container_image(cluster.deployment("ml-serving", "inference"), "server") == NEW


def test_a_rollout_past_its_progress_deadline_is_rolled_back(cluster, tmp_path):
    cluster.fail_image(NEW, "deadline")

    result = invoke(SPEC, push())

    assert result["statuses"] == ["rolled_back", "rolled_back"], result
    deployment = cluster.deployment("ml-serving", "inference")
    assert k8s.container_image(deployment, "server") == OLD
    assert k8s.annotations(deployment)[k8s.REVISION] == "3"  # revision 1's ReplicaSet, reused as the newest
    assert k8s.annotations(deployment)[k8s.ROLLED_BACK_FROM] == NEW
    undo = [r for r in patches(cluster) if r.content_type == "application/json-patch+json"]
    assert len(undo) == 2 and undo[0].body[0]["op"] == "test" and undo[0].body[1]["path"] == "/spec/template"
    assert k8s.TEMPLATE_HASH not in undo[0].body[1]["value"]["metadata"]["labels"]
    [post] = slack_posts(tmp_path)
    assert "rolled back" in post["text"] and "exceeded its progress deadline" in json.dumps(post["blocks"])


def test_when_the_lambda_runs_out_of_time_the_rollout_is_recorded_pending(cluster, tmp_path, monkeypatch):
    cluster.fail_image(NEW, "never_available")
    monkeypatch.setenv("MLOPS_EVENTS_ROLLOUT_POLL_S", "0.05")

    result = invoke(SPEC, push(), timeout_s=0.5)

    assert result["statuses"] == ["pending", "pending"]
    entries = JsonlRolloutJournal(tmp_path / "state" / "rollouts.jsonl").entries()
    assert {e["status"] for e in entries} == {"pending"}
    assert "kubectl -n ml-serving rollout status deployment/inference" in entries[0]["message"]
    assert k8s.container_image(cluster.deployment("ml-serving", "inference"), "server") == NEW  # left rolling


def test_a_policy_picks_its_targets_and_a_missing_deployment_is_reported(cluster, tmp_path, monkeypatch):
    # GIVEN staging's Deployment does not exist (yet)
    without_staging = KubernetesApiServer()
    without_staging.add_deployment("ml-serving", "inference", OLD, container="server")
    monkeypatch.setenv("MLOPS_EVENTS_KUBECONFIG", without_staging.kubeconfig(tmp_path / "kubeconfig-2"))
    try:
        # WHEN a tag only staging's policy takes is pushed ("latest" is no semantic version)
        result = invoke(SPEC, push(tag="latest"))
    finally:
        without_staging.stop()

    # THEN production is left alone, and staging's absence is an outcome worth telling, not a crash
    assert result["outcome"] == "applied" and result["statuses"] == ["missing"]
    assert "ml-staging/inference:server: missing" in result["detail"]
    assert k8s.container_image(without_staging.deployment("ml-serving", "inference"), "server") == OLD
    [post] = slack_posts(tmp_path)
    assert "deployment ml-staging/inference not found" in json.dumps(post["blocks"])


def test_credentials_the_cluster_refuses_fail_the_invocation_for_a_retry(tmp_path, monkeypatch, cluster):
    guarded = KubernetesApiServer(token="right-token")
    guarded.add_deployment("ml-serving", "inference", OLD, container="server")
    path = Path(guarded.kubeconfig(tmp_path / "kubeconfig-wrong"))
    path.write_text(path.read_text().replace("right-token", "wrong-token"))
    monkeypatch.setenv("MLOPS_EVENTS_KUBECONFIG", str(path))
    try:
        from shared.errors import ConfigError

        with pytest.raises(ConfigError, match="refused our credentials"):
            invoke(SPEC, push())
    finally:
        guarded.stop()
    # The failed invocation released its idempotency record: the retry, once fixed, rolls out.
    monkeypatch.setenv("MLOPS_EVENTS_KUBECONFIG", cluster.kubeconfig(tmp_path / "kubeconfig-right"))
    assert invoke(SPEC, push())["outcome"] == "applied"
