"""The pure rollout rules: kubectl's rollout status, its undo, the targets' configuration, the event."""

from __future__ import annotations

import pytest

from shared.errors import ConfigError, EventParseError
from shared.event_factory import ecr_image_action_event
from shared.events.ecr import ImagePush, OtherEcrEvent, parse_ecr_event
from shared.rollout import deployment as k8s
from shared.rollout.status import RolloutPhase, rollout_status
from shared.rollout.targets import parse_targets


def deployment(generation=2, observed=2, replicas=3, updated=3, total=3, available=3, progressing=None):
    status = {"observedGeneration": observed, "replicas": total, "updatedReplicas": updated}
    status["availableReplicas"] = available
    if progressing:
        status["conditions"] = [{"type": "Progressing", "status": "False", "reason": progressing}]
    return {"metadata": {"name": "web", "generation": generation}, "spec": {"replicas": replicas}, "status": status}


@pytest.mark.parametrize(
    ("kwargs", "phase", "message"),
    [
        ({"observed": 1}, RolloutPhase.WAITING, "spec update to be observed"),
        ({"updated": 1}, RolloutPhase.WAITING, "1 out of 3 new replicas have been updated"),
        ({"total": 5}, RolloutPhase.WAITING, "2 old replicas are pending termination"),
        ({"available": 2}, RolloutPhase.WAITING, "2 of 3 updated replicas are available"),
        ({"updated": 1, "progressing": "ProgressDeadlineExceeded"}, RolloutPhase.FAILED, "progress deadline"),
        ({}, RolloutPhase.DONE, "successfully rolled out"),
        ({"observed": 1, "progressing": "ProgressDeadlineExceeded"}, RolloutPhase.WAITING, "observed"),
    ],
)
def test_rollout_status_follows_kubectl(kwargs, phase, message):
    status = rollout_status(deployment(**kwargs))
    assert status.phase is phase and message in status.message


def test_omitted_zero_counts_read_as_zero():
    # The API omits zero counts (Go omitempty): a fresh rollout's status may lack updatedReplicas.
    raw = {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 2}, "status": {"observedGeneration": 2}}
    assert rollout_status(raw).message == "0 out of 2 new replicas have been updated"


def replicaset(revision, image, uid="d-1", hash_="abc"):
    return {
        "metadata": {
            "annotations": {k8s.REVISION: str(revision)},
            "ownerReferences": [{"kind": "Deployment", "uid": uid}],
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web", k8s.TEMPLATE_HASH: hash_}},
                "spec": {"containers": [{"name": "server", "image": image}]},
            }
        },
    }


def test_the_previous_template_is_the_newest_older_revision_without_its_hash_label():
    current = {"metadata": {"uid": "d-1", "annotations": {k8s.REVISION: "4"}}, "spec": {}}
    sets = [replicaset(1, "v1"), replicaset(3, "v3"), replicaset(4, "v4"), replicaset(2, "other", uid="d-2")]

    revision, template = k8s.previous_template(current, sets)

    assert revision == 3 and template["spec"]["containers"][0]["image"] == "v3"
    assert template["metadata"]["labels"] == {"app": "web"}
    assert (
        k8s.previous_template({**current, "metadata": {"uid": "d-1", "annotations": {k8s.REVISION: "1"}}}, sets) is None
    )


def test_the_rollback_patch_tests_what_it_replaces_and_escapes_annotation_keys():
    current = {"metadata": {}, "spec": {"template": {"spec": {"containers": [{"name": "s", "image": "new"}]}}}}
    ops = k8s.rollback_patch(
        current, {"spec": {"containers": [{"name": "s", "image": "old"}]}}, {k8s.ROLLED_BACK_FROM: "new"}
    )
    assert ops[0] == {"op": "test", "path": "/spec/template", "value": current["spec"]["template"]}
    assert ops[1]["op"] == "replace" and ops[2] == {"op": "add", "path": "/metadata/annotations", "value": {}}
    assert ops[3]["path"] == "/metadata/annotations/mlops-events.io~1rolled-back-from"


def test_images_and_digests():
    d = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "a", "image": "r/x:1"}, {"name": "b", "image": "r/x@sha256:ff"}]}
            }
        }
    }
    assert k8s.container_image(d, "b") == "r/x@sha256:ff" and k8s.container_image(d, "c") is None
    assert k8s.digest_of("r/x@sha256:ff") == "sha256:ff" and k8s.digest_of("r/x:1") is None


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ("targets: [{repository: x, namespace: Bad_NS, deployment: d, container: c}]", "targets[0].namespace"),
        ("targets: [{repository: x, namespace: n, deployment: d}]", "targets[0].container"),
        ("targets: [{repository: X/Y, namespace: n, deployment: d, container: c}]", "targets[0].repository"),
        ("targets: [{repository: x, namespace: n, deployment: d, container: c, policy: 'semver:^^1'}]", "semver"),
        (
            "targets:\n- {repository: x, namespace: n, deployment: d, container: c}\n"
            "- {repository: y, namespace: n, deployment: d, container: c}",
            "listed twice",
        ),
        ("targets: {}", "'targets' list"),
        ("targets: [", "not YAML"),
    ],
)
def test_bad_target_configuration_is_a_clear_config_error(document, error):
    with pytest.raises(ConfigError, match=error.replace("[", r"\[").replace("]", r"\]").replace("^", r"\^")):
        parse_targets(document, "targets.yaml")


def test_targets_follow_their_repository_with_all_as_the_default_policy():
    targets = parse_targets(
        "targets:\n- {repository: ml/a, namespace: n, deployment: d, container: c}\n"
        "- {repository: ml/b, namespace: n, deployment: e, container: c, policy: 'exact:stable'}",
        "t",
    )
    [a] = targets.following("ml/a")
    assert a.policy.decide(None).matched and not targets.following("ml/c")
    assert not targets.following("ml/b")[0].policy.decide("1.0").matched


def test_the_event_parses_to_an_image_pinned_by_digest():
    digest = "sha256:" + "c" * 64
    push = parse_ecr_event(
        ecr_image_action_event("team/app", digest, tag=None, account="111122223333", region="eu-west-1")
    )
    assert isinstance(push, ImagePush) and push.tag is None
    assert push.image == f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/app@{digest}"
    assert push.idempotency_data == {"repository": "team/app", "digest": digest}


def test_other_ecr_events_and_malformed_ones():
    event = ecr_image_action_event("team/app", "sha256:" + "c" * 64)
    assert isinstance(parse_ecr_event({**event, "detail-type": "ECR Image Scan"}), OtherEcrEvent)
    for broken, field in (
        ({**event, "time": "yesterday"}, "time"),
        ({**event, "detail": {**event["detail"], "repository-name": "UPPER"}}, "detail.repository-name"),
        ({**event, "detail": {**event["detail"], "image-tag": "bad tag"}}, "detail.image-tag"),
        ("not an object", "event"),
    ):
        with pytest.raises(EventParseError, match=field):
            parse_ecr_event(broken)
