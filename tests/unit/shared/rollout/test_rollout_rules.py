"""The pure rollout rules: kubectl's rollout status, its undo, the targets' configuration, the event."""

from __future__ import annotations

import pytest

from shared.errors import ConfigError, EventParseError
from shared.payloads.ecr import ImagePush, OtherEcrEvent, parse_ecr_event
from shared.rollout import deployment as k8s
from shared.rollout.status import RolloutPhase, rollout_status
from shared.rollout.targets import parse_targets
from tooling.fixture_factory import ecr_image_action_event


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


def test_the_previous_revision_is_the_newest_older_replicaset_of_this_deployment():
    current = {"metadata": {"uid": "d-1", "annotations": {k8s.REVISION: "4"}}, "spec": {}}
    sets = [replicaset(1, "v1"), replicaset(3, "v3"), replicaset(4, "v4"), replicaset(2, "other", uid="d-2")]

    previous = k8s.previous_revision(current, sets)

    assert k8s.revision_of(previous) == 3 and k8s.template_of(previous)["spec"]["containers"][0]["image"] == "v3"
    assert k8s.template_of(previous)["metadata"]["labels"] == {"app": "web"}  # pod-template-hash removed
    first = {**current, "metadata": {"uid": "d-1", "annotations": {k8s.REVISION: "1"}}}
    assert k8s.previous_revision(first, sets) is None


def test_the_rollback_patch_restores_that_revisions_annotations_as_kubectl_does():
    failed_push = {k8s.note_key("s", k8s.PUSHED_AT): "2026-11-25T14:00:00+00:00", k8s.REVISION: "2", "team": "ml"}
    template = {"spec": {"containers": [{"name": "s"}]}}
    current = {"metadata": {"annotations": failed_push}, "spec": {"template": template}}
    previous = replicaset(1, "v1")
    previous["metadata"]["annotations"].update({"team": "ml", k8s.note_key("s", k8s.IMAGE_TAG): "1.0.0"})

    ops = k8s.rollback_patch(current, previous, {k8s.note_key("s", k8s.ROLLED_BACK_FROM): "new"})

    assert ops[0] == {"op": "test", "path": "/spec/template", "value": current["spec"]["template"]}
    assert ops[1]["op"] == "replace" and ops[1]["value"]["spec"]["containers"][0]["image"] == "v1"
    assert ops[2]["path"] == "/metadata/annotations"
    assert ops[2]["value"] == {
        k8s.REVISION: "2",  # the Deployment's own bookkeeping stays; the controller moves it on
        "team": "ml",
        k8s.note_key("s", k8s.IMAGE_TAG): "1.0.0",  # that revision's history, not the failed push's
        k8s.note_key("s", k8s.ROLLED_BACK_FROM): "new",
    }


def test_annotation_keys_per_container_fit_the_63_character_limit():
    assert k8s.note_key("server", k8s.PUSHED_AT) == "mlops-events.io/server.pushed-at"
    long_name = "c" * 63
    name_part = k8s.note_key(long_name, k8s.PREVIOUS_IMAGE).split("/", 1)[1]
    assert len(name_part) <= 63 and name_part != k8s.note_key("d" * 63, k8s.PREVIOUS_IMAGE).split("/", 1)[1]


def test_an_unreadable_push_time_skips_the_stale_check_instead_of_crashing():
    def with_note(value):
        return {"metadata": {"annotations": {k8s.note_key("s", k8s.PUSHED_AT): value}}}

    assert k8s.pushed_at(with_note("yesterday"), "s") is None
    assert k8s.pushed_at(with_note("2026-11-25T14:00:00"), "s").tzinfo is not None  # naive read as UTC
    assert k8s.pushed_at({"metadata": {}}, "s") is None


def test_images_and_digests():
    digest = "sha256:" + "f" * 64
    d = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "a", "image": "r/x:1"}, {"name": "b", "image": f"r/x@{digest}"}]}
            }
        }
    }
    assert k8s.container_image(d, "b") == f"r/x@{digest}" and k8s.container_image(d, "c") is None
    assert k8s.digest_of(f"r/x@{digest}") == digest and k8s.digest_of("r/x:1") is None
    assert k8s.digest_of("r/x@sha256:ff") is None  # read back from the cluster: only a real digest counts


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
    assert push.idempotency_data == {
        "registry": "111122223333.dkr.ecr.eu-west-1.amazonaws.com",
        "repository": "team/app",
        "digest": digest,
    }


def test_other_ecr_events_and_malformed_ones():
    event = ecr_image_action_event("team/app", "sha256:" + "c" * 64)
    assert isinstance(parse_ecr_event({**event, "detail-type": "ECR Image Scan"}), OtherEcrEvent)
    for broken, field in (
        ({**event, "time": "yesterday"}, "time"),
        ({**event, "time": "2026-11-25T14:00:00"}, "time"),  # no zone: EventBridge always says Z
        ({**event, "detail": {**event["detail"], "repository-name": "UPPER"}}, "detail.repository-name"),
        ({**event, "detail": {**event["detail"], "image-tag": "bad tag"}}, "detail.image-tag"),
        ("not an object", "event"),
    ):
        with pytest.raises(EventParseError, match=field):
            parse_ecr_event(broken)
