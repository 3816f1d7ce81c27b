"""EcrImageWatcher against moto server's ECR through the real boto3 client: images put, tagged, moved
and deleted become the `ECR Image Action` events ECR would send to EventBridge.

moto computes an image's digest its own way (sha256 of the layer digests joined, not of the manifest as
ECR does), so these tests take the digest from put_image's answer, or pass ECR's own with imageDigest.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import boto3
import pytest

from tooling.localcloud.ecr_image_watcher import EcrImageWatcher
from tooling.localcloud.eventbridge_patterns import matches
from tooling.manifest import function_named

pytestmark = pytest.mark.integration
ACCOUNT, REGION = "123456789012", "us-east-1"
RULE = function_named("ecr_rollout").trigger["pattern"]


def oci_manifest(layer: bytes) -> str:
    """A real OCI image manifest (one layer); its bytes are what `docker push` uploads last."""
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(),
                    "size": len(layer),
                }
            ],
        }
    )


@pytest.fixture
def ecr(aws):
    return boto3.client("ecr", region_name=REGION)


@pytest.fixture
def watcher(ecr) -> EcrImageWatcher:
    return EcrImageWatcher(ecr, account=ACCOUNT, region=REGION)


def put(ecr, repository: str, manifest: str, tag: str | None = None, **kwargs) -> str:
    """Put an image as `docker push` ends, returning the digest the registry gave it."""
    tagged = {"imageTag": tag} if tag else {}
    return ecr.put_image(repositoryName=repository, imageManifest=manifest, **tagged, **kwargs)["image"]["imageId"][
        "imageDigest"
    ]


def summary(events: list[dict]) -> list[tuple]:
    return [
        (
            e["detail"]["action-type"],
            e["detail"]["repository-name"],
            e["detail"]["image-digest"],
            e["detail"].get("image-tag"),
        )
        for e in events
    ]


def test_a_pushed_image_is_one_push_event_that_the_rollout_rule_routes(ecr, watcher):
    # GIVEN a repository, watched from when it was empty
    ecr.create_repository(repositoryName="ml/inference")
    assert watcher.poll() == []

    # WHEN an image is pushed with a tag
    digest = put(ecr, "ml/inference", oci_manifest(b"layer-1.2.0"), "1.2.0")
    events = watcher.poll()

    # THEN one ECR Image Action event carries the registry's digest and the tag, once only
    assert summary(events) == [("PUSH", "ml/inference", digest, "1.2.0")]
    event = events[0]
    assert (event["source"], event["detail-type"], event["account"], event["region"]) == (
        "aws.ecr",
        "ECR Image Action",
        ACCOUNT,
        REGION,
    )
    assert event["detail"]["result"] == "SUCCESS"
    assert matches(RULE, event)
    assert watcher.poll() == []


def test_the_event_carries_the_digest_ecr_computes_when_the_push_names_it(ecr, watcher):
    ecr.create_repository(repositoryName="ml/inference")
    watcher.poll()
    manifest = oci_manifest(b"layer-1.3.0")
    ecr_digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()  # what ECR itself would compute

    put(ecr, "ml/inference", manifest, "1.3.0", imageDigest=ecr_digest)

    assert summary(watcher.poll()) == [("PUSH", "ml/inference", ecr_digest, "1.3.0")]


def test_a_second_tag_on_the_same_manifest_is_one_more_event_with_the_same_digest(ecr, watcher):
    ecr.create_repository(repositoryName="ml/inference")
    manifest = oci_manifest(b"layer-1.2.0")
    digest = put(ecr, "ml/inference", manifest, "1.2.0")
    watcher.poll()

    assert put(ecr, "ml/inference", manifest, "stable") == digest

    assert summary(watcher.poll()) == [("PUSH", "ml/inference", digest, "stable")]


def test_an_image_pushed_by_digest_has_no_tag(ecr, watcher):
    ecr.create_repository(repositoryName="ml/inference")
    watcher.poll()

    digest = put(ecr, "ml/inference", oci_manifest(b"untagged"))
    events = watcher.poll()

    assert summary(events) == [("PUSH", "ml/inference", digest, None)]
    assert "image-tag" not in events[0]["detail"]
    assert matches(RULE, events[0])


def test_a_deleted_image_is_a_delete_event_the_rollout_rule_ignores(ecr, watcher):
    ecr.create_repository(repositoryName="ml/inference")
    digest = put(ecr, "ml/inference", oci_manifest(b"layer-1.2.0"), "1.2.0")
    watcher.poll()

    deleted = ecr.batch_delete_image(repositoryName="ml/inference", imageIds=[{"imageDigest": digest}])
    assert deleted["failures"] == []
    events = watcher.poll()

    assert summary(events) == [("DELETE", "ml/inference", digest, "1.2.0")]
    assert not matches(RULE, events[0])


def test_deleting_one_of_two_tags_is_a_delete_of_that_tag_only(ecr, watcher):
    ecr.create_repository(repositoryName="ml/inference")
    manifest = oci_manifest(b"layer-1.2.0")
    put(ecr, "ml/inference", manifest, "1.2.0")
    digest = put(ecr, "ml/inference", manifest, "stable")
    watcher.poll()

    ecr.batch_delete_image(repositoryName="ml/inference", imageIds=[{"imageTag": "stable"}])

    assert summary(watcher.poll()) == [("DELETE", "ml/inference", digest, "stable")]
    assert [i["imageTags"] for i in ecr.describe_images(repositoryName="ml/inference")["imageDetails"]] == [["1.2.0"]]


def test_a_tag_moved_to_a_new_image_is_a_push_not_a_delete(ecr, watcher):
    ecr.create_repository(repositoryName="ml/inference")
    put(ecr, "ml/inference", oci_manifest(b"old"), "1.2.0")
    old = put(ecr, "ml/inference", oci_manifest(b"old"), "latest")
    watcher.poll()

    new = put(ecr, "ml/inference", oci_manifest(b"new"), "latest")

    assert new != old
    assert summary(watcher.poll()) == [("PUSH", "ml/inference", new, "latest")]


def test_a_repository_created_after_the_first_poll_is_watched(ecr, watcher):
    # GIVEN a watcher that has polled a registry with one repository
    ecr.create_repository(repositoryName="ml/inference")
    watcher.poll()

    # WHEN a new repository appears with an image in it
    repository = f"team/new-{uuid.uuid4().hex[:6]}"
    ecr.create_repository(repositoryName=repository)
    digest = put(ecr, repository, oci_manifest(b"first"), "v1")

    # THEN its image is reported like any other push
    assert summary(watcher.poll()) == [("PUSH", repository, digest, "v1")]


def test_the_first_poll_is_the_baseline_unless_existing_images_are_wanted(ecr):
    ecr.create_repository(repositoryName="ml/inference")
    ecr.create_repository(repositoryName="ml/batch-predict")
    inference = put(ecr, "ml/inference", oci_manifest(b"a"), "1.0.0")
    batch = put(ecr, "ml/batch-predict", oci_manifest(b"b"), "main-3f9c2ab")

    quiet = EcrImageWatcher(ecr, account=ACCOUNT, region=REGION)
    reporting = EcrImageWatcher(ecr, account=ACCOUNT, region=REGION, report_existing=True)

    assert quiet.poll() == []
    assert sorted(summary(reporting.poll())) == [
        ("PUSH", "ml/batch-predict", batch, "main-3f9c2ab"),
        ("PUSH", "ml/inference", inference, "1.0.0"),
    ]
    assert reporting.poll() == []


def test_a_deleted_repository_sends_no_image_events(ecr, watcher):
    ecr.create_repository(repositoryName="ml/inference")
    put(ecr, "ml/inference", oci_manifest(b"a"), "1.0.0")
    watcher.poll()

    ecr.delete_repository(repositoryName="ml/inference", force=True)

    assert watcher.poll() == []
