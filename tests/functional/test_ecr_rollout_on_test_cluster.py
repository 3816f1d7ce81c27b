"""ecr_rollout end to end through its real Lambda handler, the real kubernetes client and the
Kubernetes API test server (tooling/localcloud/k8s_api_server.py): success, no-op, stale, failure with rollback,
time running out, duplicates, and what the cluster refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.adapters.jsonl_rollout_journal import JsonlRolloutJournal
from shared.rollout import deployment as k8s
from tests.support.ecr_cluster import OLD, REGISTRY, TARGETS, serve_test_cluster
from tooling.fixture_factory import ecr_image_action_event
from tooling.local_lambda import invoke
from tooling.localcloud.k8s_api_server import KubernetesApiServer
from tooling.manifest import function_named

NEW_DIGEST = f"sha256:{'2' * 64}"
NEW = f"{REGISTRY}/ml/inference@{NEW_DIGEST}"
PUSHED = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
SPEC = function_named("ecr_rollout")


@pytest.fixture
def cluster(tmp_path, monkeypatch) -> KubernetesApiServer:
    server = serve_test_cluster(tmp_path, monkeypatch)
    yield server
    server.stop()


def push(tag: str | None = "1.3.0", digest: str = NEW_DIGEST, minutes: int = 0, event_id: str = "evt-1") -> dict:
    when = PUSHED + timedelta(minutes=minutes)
    return ecr_image_action_event("ml/inference", digest, tag=tag, time=when, event_id=event_id)


def note(what: str, container: str = "server") -> str:
    return k8s.note_key(container, what)


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
        notes = k8s.annotations_of(deployment)
        assert notes[note(k8s.IMAGE_TAG)] == "1.3.0" and notes[note(k8s.PREVIOUS_IMAGE)] == OLD
        assert notes[note(k8s.PUSHED_AT)] == PUSHED.isoformat() and "ml/inference:1.3.0" in notes[k8s.CHANGE_CAUSE]
        assert notes[k8s.REVISION] == "2" and notes[note(k8s.EVENT_ID)] == "evt-1"
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
    cluster_state = cluster.deployment("ml-serving", "inference")

    # WHEN the same event is delivered again, and the same digest is re-tagged for the same targets
    again = invoke(SPEC, push())
    retagged = invoke(SPEC, push(tag="v1.3.0", event_id="evt-2"))

    # THEN the idempotency record answers both, and nothing is patched
    assert again["outcome"] == retagged["outcome"] == "duplicate"
    assert "already rolled out by event evt-1" in retagged["detail"]
    assert len(patches(cluster)) == before and cluster.deployment("ml-serving", "inference") == cluster_state
    assert len(slack_posts(tmp_path)) == 1


def test_the_same_digest_pushed_to_another_registry_is_another_rollout(cluster):
    # GIVEN a digest rolled out from the account's us-east-1 registry
    invoke(SPEC, push())

    # WHEN the same repository name and digest are pushed in another region (a replica registry)
    event = ecr_image_action_event(
        "ml/inference", NEW_DIGEST, tag="1.3.0", region="eu-west-1", time=PUSHED + timedelta(minutes=1), event_id="e2"
    )
    replica = invoke(SPEC, event)

    # THEN it is no duplicate of the first (another registry, another image reference), and the
    # Deployments, already running that digest, are left as they are
    assert (replica["outcome"], replica["statuses"]) == ("applied", ["noop", "noop"]), replica


def test_a_re_tag_that_a_new_target_accepts_promotes_the_same_digest(cluster):
    # GIVEN a build rolled to staging only (its tag is no release)
    first = invoke(SPEC, push(tag="main-3f9c2ab"))
    assert first["statuses"] == ["succeeded"]
    assert k8s.container_image(cluster.deployment("ml-serving", "inference"), "server") == OLD

    # WHEN the same digest is tagged as a release
    promoted = invoke(SPEC, push(tag="1.4.0", event_id="evt-2", minutes=5))

    # THEN production rolls to it, and staging (already there) is a no-op
    assert promoted["outcome"] == "applied" and promoted["statuses"] == ["succeeded", "noop"], promoted
    assert k8s.container_image(cluster.deployment("ml-serving", "inference"), "server") == NEW


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
    notes = k8s.annotations_of(deployment)
    assert notes[k8s.REVISION] == "3"  # revision 1's ReplicaSet, reused as the newest
    assert notes[note(k8s.ROLLED_BACK_FROM)] == NEW
    # As `kubectl rollout undo`: the annotations of the revision rolled back to, not the failed push's
    assert note(k8s.PUSHED_AT) not in notes and note(k8s.IMAGE_TAG) not in notes
    undo = [r for r in patches(cluster) if r.content_type == "application/json-patch+json"]
    assert len(undo) == 2 and undo[0].body[0]["op"] == "test" and undo[0].body[1]["path"] == "/spec/template"
    assert k8s.TEMPLATE_HASH not in undo[0].body[1]["value"]["metadata"]["labels"]
    [post] = slack_posts(tmp_path)
    assert "rolled back" in post["text"] and "exceeded its progress deadline" in json.dumps(post["blocks"])

    # AND a fix pushed before the failed push's time but delivered later is not taken for stale
    fix = invoke(SPEC, push(tag="1.3.1", digest=f"sha256:{'4' * 64}", minutes=-1, event_id="evt-fix"))
    assert fix["statuses"] == ["succeeded", "succeeded"], fix


def test_a_retry_after_a_failure_mid_rollout_watches_and_rolls_back(cluster, monkeypatch):
    # GIVEN an invocation that patched, then died (here: the cluster became unreachable for the undo)
    cluster.fail_image(NEW, "deadline")
    from shared.adapters import kubernetes_cluster

    real = kubernetes_cluster.KubernetesCluster.list_replicasets

    def unreachable(self, namespace, match_labels):
        raise RuntimeError("the Lambda was stopped here")

    monkeypatch.setattr(kubernetes_cluster.KubernetesCluster, "list_replicasets", unreachable)
    with pytest.raises(RuntimeError):
        invoke(SPEC, push())
    assert k8s.container_image(cluster.deployment("ml-serving", "inference"), "server") == NEW

    # WHEN the platform retries the event (the failed invocation released its idempotency record)
    monkeypatch.setattr(kubernetes_cluster.KubernetesCluster, "list_replicasets", real)
    retried = invoke(SPEC, push())

    # THEN the retry finds its own patch still rolling, watches it, and rolls it back: no false no-op
    assert retried["statuses"] == ["rolled_back", "rolled_back"], retried
    assert k8s.container_image(cluster.deployment("ml-serving", "inference"), "server") == OLD


def test_a_change_made_during_the_rollout_is_not_undone(cluster, monkeypatch):
    cluster.fail_image(NEW, "deadline")
    from shared.adapters import kubernetes_cluster

    real_patch = kubernetes_cluster.KubernetesCluster.patch_deployment

    def someone_edits_first(self, namespace, name, patch):
        if isinstance(patch, list):  # the undo: a human changed the template a moment before
            real_patch(self, namespace, name, {"spec": {"template": {"metadata": {"labels": {"hotfix": "yes"}}}}})
        return real_patch(self, namespace, name, patch)

    monkeypatch.setattr(kubernetes_cluster.KubernetesCluster, "patch_deployment", someone_edits_first)
    result = invoke(SPEC, push())

    assert result["statuses"] == ["failed", "failed"] and "ml-serving/inference:server: failed" in result["detail"]
    labels = cluster.deployment("ml-serving", "inference")["spec"]["template"]["metadata"]["labels"]
    assert labels.get("hotfix") == "yes"  # their change stands


def test_a_paused_deployment_is_left_alone_and_said_so(cluster, tmp_path):
    from kubernetes.client import AppsV1Api

    AppsV1Api(cluster.client()).patch_namespaced_deployment("inference", "ml-serving", {"spec": {"paused": True}})

    result = invoke(SPEC, push())

    assert result["statuses"] == ["paused", "succeeded"]
    assert k8s.container_image(cluster.deployment("ml-serving", "inference"), "server") == OLD
    assert "paused" in json.dumps(slack_posts(tmp_path)[0]["blocks"])


def test_a_sidecar_from_another_repository_keeps_its_own_history(cluster, tmp_path, monkeypatch):
    # GIVEN staging's Deployment runs the model server and a metrics sidecar from its own repository
    (tmp_path / "targets.yaml").write_text(
        TARGETS + "  - {repository: ml/exporter, namespace: ml-staging, deployment: inference, container: exporter}\n"
    )
    monkeypatch.setenv("MLOPS_EVENTS_ROLLOUT_TARGETS_FILE", str(tmp_path / "targets.yaml"))
    from kubernetes.client import AppsV1Api

    sidecar = {"name": "exporter", "image": f"{REGISTRY}/ml/exporter@sha256:{'5' * 64}"}
    AppsV1Api(cluster.client()).patch_namespaced_deployment(
        "inference", "ml-staging", {"spec": {"template": {"spec": {"containers": [sidecar]}}}}
    )
    for _ in range(6):  # each read advances the test server's rollout: let that change complete
        AppsV1Api(cluster.client()).read_namespaced_deployment("inference", "ml-staging")

    # WHEN the model server gets a new push, then the sidecar an older-timed one
    invoke(SPEC, push(minutes=10))
    exporter = ecr_image_action_event(
        "ml/exporter", f"sha256:{'6' * 64}", tag="0.9.0", time=PUSHED, event_id="evt-exporter"
    )
    result = invoke(SPEC, exporter)

    # THEN the sidecar's push is judged against the sidecar's history, not the server's: it rolls
    assert result["statuses"] == ["succeeded"], result
    notes = k8s.annotations_of(cluster.deployment("ml-staging", "inference"))
    assert notes[note(k8s.IMAGE_TAG, "exporter")] == "0.9.0" and notes[note(k8s.IMAGE_TAG)] == "1.3.0"


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
