"""Issue 15, item 4: every ECR event field that reaches the image reference, an annotation or a message
is held to its AWS or OCI grammar, the event's time is bounded, and what the rollout reads back from a
Deployment is checked before it is used or shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from handlers.ecr_rollout import TargetRun, _decide, render_notification
from shared.errors import EventParseError
from shared.payloads.ecr import MAX_FUTURE, ImagePush, OtherEcrEvent, parse_ecr_event, registry_domain
from shared.rollout import deployment as k8s
from shared.rollout.targets import parse_targets
from tooling.manifest import REPO_ROOT

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
PUSH = json.loads((REPO_ROOT / "events" / "ecr" / "01-push-inference-1.2.0.json").read_text())
DIGEST = PUSH["detail"]["image-digest"]


def event(**changes) -> dict:
    """The real fixture with top-level fields changed; `detail__x` changes detail's `x`; None removes."""
    document = json.loads(json.dumps(PUSH))
    for key, value in changes.items():
        where, key = (document["detail"], key[8:].replace("_", "-")) if key.startswith("detail__") else (document, key)
        if value is None:
            where.pop(key, None)
        else:
            where[key] = value
    return document


def rejected(document, now=NOW) -> str:
    with pytest.raises(EventParseError) as caught:
        parse_ecr_event(document, now=now)
    return str(caught.value)


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("us-east-1", "123456789012.dkr.ecr.us-east-1.amazonaws.com"),
        ("eu-central-2", "123456789012.dkr.ecr.eu-central-2.amazonaws.com"),
        ("ap-southeast-4", "123456789012.dkr.ecr.ap-southeast-4.amazonaws.com"),
        ("il-central-1", "123456789012.dkr.ecr.il-central-1.amazonaws.com"),
        ("mx-central-1", "123456789012.dkr.ecr.mx-central-1.amazonaws.com"),
        ("us-gov-west-1", "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com"),
        ("cn-north-1", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),  # China's registries are .com.cn
        ("cn-northwest-1", "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn"),
    ],
)
def test_real_regions_build_their_partitions_registry_host(region, host):
    push = parse_ecr_event(event(region=region), now=NOW)
    assert isinstance(push, ImagePush) and push.image == f"{host}/ml/inference@{DIGEST}"


def test_the_real_fixtures_parse_as_before():
    for path in sorted((REPO_ROOT / "events" / "ecr").glob("[01]*.json")):
        parsed = parse_ecr_event(json.loads(path.read_text()), now=NOW)
        assert isinstance(parsed, ImagePush | OtherEcrEvent), path.name


@pytest.mark.parametrize(
    "account",
    [
        "evil.example.com:5000/pwn#",
        "12345678901",
        "1234567890123",
        "12345678901a",
        "١٢٣٤٥٦٧٨٩٠١٢",
        "123456789012\n",
        "",
    ],
)
def test_an_account_is_twelve_ascii_digits(account):
    assert rejected(event(account=account)).startswith("account: not a 12-digit AWS account id")


def test_an_account_of_another_type_is_refused_not_converted():
    assert rejected(event(account=123456789012)) == "account: Input should be a valid string"


@pytest.mark.parametrize(
    "region",
    [
        "evil.example.com:5000/pwn#",
        "us-east-1.evil.com/x#",
        "US-EAST-1",
        "us-east-1\n",
        " us-east-1",
        "us-east",
        "zz-east-1",
        "us-east-123",
        "us-iso-east-1",  # an ISO partition: its registries are not under amazonaws.com; refused, not guessed
        "eusc-de-east-1",
        "",
    ],
)
def test_a_region_is_one_of_a_known_partition(region):
    assert rejected(event(region=region)).startswith("region: not a region")
    assert registry_domain(region) is None


@pytest.mark.parametrize(
    "name",
    [
        "a",  # ECR: at least 2 characters
        "x" * 257,
        "ML/inference",
        "ml//inference",
        "/ml/inference",
        "ml/inference/",
        "../inference",
        "ml/../inference",
        "ml/inference@sha256:" + "0" * 64,
        "ml/inference:1.2.0",
        "evil.example.com:5000/pwn#",
        "ml/in--ference.",
        "ml/inférence",
    ],
)
def test_a_repository_follows_ecrs_grammar(name):
    assert rejected(event(detail__repository_name=name)).startswith("detail.repository-name:")


@pytest.mark.parametrize("name", ["ab", "ml/inference", "a/b/c", "team.x/app_1-b", "x" * 256])
def test_valid_repository_names_are_taken(name):
    assert parse_ecr_event(event(detail__repository_name=name), now=NOW).repository == name


@pytest.mark.parametrize(
    "tag",
    ["", ".hidden", "-dash", "a" * 129, "1.2.0@sha256:" + "f" * 64, "a/b", "a:b", "a b", "<!channel>", "1.2\n", "ü"],
)
def test_a_tag_follows_the_oci_grammar(tag):
    assert rejected(event(detail__image_tag=tag)).startswith("detail.image-tag:")


@pytest.mark.parametrize("tag", ["latest", "1.2.0", "v1.2.0-rc.1", "_x", "A" * 128, "main-3f9c2ab"])
def test_valid_tags_are_taken(tag):
    assert parse_ecr_event(event(detail__image_tag=tag), now=NOW).tag == tag


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha512:" + "a" * 128,
        "sha256:7f5b2640fe6fb4",
        DIGEST + "\n",
        DIGEST + "@sha256:" + "0" * 64,
        "sha256:" + "g" * 64,
    ],
)
def test_a_digest_is_a_sha256_one(digest):
    assert rejected(event(detail__image_digest=digest)).startswith("detail.image-digest:")


@pytest.mark.parametrize(
    ("time", "message"),
    [
        ("9999-12-31T23:59:59Z", "is in the future"),
        ((NOW + MAX_FUTURE + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "is in the future"),
        ("9999-12-31T23:59:59-05:00", "out of range"),
        ("0001-01-01T00:00:00+05:00", "out of range"),
        ("1970-01-01T00:00:00Z", "before ECR existed"),
        ("2014-12-31T23:59:59Z", "before ECR existed"),
        ("2026-11-25T14:00:00", "not an RFC 3339 time with a zone"),
        ("yesterday", "not an RFC 3339 time"),
        ("1700000000", "not an RFC 3339 time"),
        ("2026-13-01T00:00:00Z", "month value is outside"),
    ],
)
def test_an_event_time_is_bounded(time, message):
    detail = rejected(event(time=time))
    assert detail.startswith("time: ") and message in detail


def test_a_time_given_as_a_number_is_refused_not_read_as_epoch_seconds():
    assert rejected(event(time=1_700_000_000)) == "time: expected an RFC 3339 time string, got int"


def test_a_time_within_the_clock_skew_and_old_times_are_taken():
    just_ahead = NOW + MAX_FUTURE - timedelta(seconds=1)
    assert parse_ecr_event(event(time=just_ahead.strftime("%Y-%m-%dT%H:%M:%SZ")), now=NOW).pushed_at == just_ahead
    # An archive replay may be years old: the stale check judges it, not the parser
    assert parse_ecr_event(event(time="2016-01-01T00:00:00Z"), now=NOW).pushed_at.year == 2016


def test_the_future_bound_applies_to_other_ecr_events_too():
    scan = json.loads((REPO_ROOT / "events" / "ecr" / "10-scan-complete.json").read_text())
    assert rejected({**scan, "time": "9999-12-31T23:59:59Z"}).startswith("time:")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "<!channel>"}, "id:"),
        ({"id": "x" * 129}, "id:"),
        ({"id": 7}, "id:"),
        ({"source": "x" * 300}, "source:"),
        ({"detail-type": "x" * 129}, "detail-type:"),
        ({"resources": [1]}, "resources.0:"),
        ({"detail__result": "success<!here>"}, "detail.result:"),
        ({"detail__action_type": "x" * 40}, "detail.action-type:"),
        ({"detail__manifest_media_type": ["x"]}, "detail.manifest-media-type:"),
        ({"detail": "PUSH"}, "detail:"),
    ],
)
def test_other_fields_are_held_to_their_types_and_sizes(changes, field):
    assert rejected(event(**changes)).startswith(field)


def test_a_rejection_never_echoes_more_than_a_short_quote_of_the_value():
    detail = rejected(event(account="9" * 100_000))
    assert len(detail) < 200


def test_an_image_push_built_by_hand_is_validated_too():
    fields = dict(
        event_id="e1",
        account="123456789012",
        region="us-east-1",
        pushed_at=NOW,
        repository="ml/inference",
        digest=DIGEST,
        tag=None,
        action="PUSH",
        result="SUCCESS",
    )
    assert ImagePush(**fields).image.startswith("123456789012.dkr.ecr.us-east-1.amazonaws.com/")
    for key, bad in (("account", "evil.example.com:5000/pwn#"), ("region", "x/y"), ("digest", "sha256:x")):
        with pytest.raises(ValueError, match=key):
            ImagePush(**{**fields, key: bad})


# What the rollout reads back from the Deployment


def deployment_with(notes: dict[str, str], image: str = f"r.example/ml/inference@{DIGEST}") -> dict:
    return {
        "metadata": {"name": "inference", "generation": 1, "annotations": notes},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "server", "image": image}]}}},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
    }


@pytest.mark.parametrize(
    ("raw", "read"),
    [("1.2.0", "1.2.0"), ("<!channel>", None), ("a" * 129, None), ("", None), ("1.2.0@sha256:" + "f" * 64, None)],
)
def test_a_recorded_tag_that_is_no_tag_is_unknown(raw, read):
    assert k8s.recorded_tag(deployment_with({k8s.note_key("server", k8s.IMAGE_TAG): raw}), "server") == read


@pytest.mark.parametrize(
    ("image", "digest"),
    [
        (f"r/x@{DIGEST}", DIGEST),
        ("r/x@sha256:ff", None),
        ("r/x@<!channel>", None),
        ("r/x:1", None),
        (None, None),
        (f"r/x@{DIGEST.upper()}", None),
    ],
)
def test_only_a_sha256_digest_is_read_from_an_image(image, digest):
    assert k8s.digest_of(image) == digest


def test_a_recorded_push_time_in_the_future_is_not_trusted():
    key = k8s.note_key("server", k8s.PUSHED_AT)
    poisoned = deployment_with({key: "9999-12-31T23:59:59+00:00"})
    assert k8s.pushed_at(poisoned, "server") is not None  # as written
    assert k8s.pushed_at(poisoned, "server", not_after=NOW + MAX_FUTURE) is None
    fine = deployment_with({key: NOW.isoformat()})
    assert k8s.pushed_at(fine, "server", not_after=NOW + MAX_FUTURE) == NOW


def test_a_poisoned_deployment_is_neither_stale_for_every_push_nor_shown_as_it_reads():
    # GIVEN a Deployment whose annotations an unchecked event (or a person) filled with nonsense
    target = parse_targets(
        "targets: [{repository: ml/inference, namespace: n, deployment: inference, container: server}]", "t"
    ).targets[0]
    notes = {
        k8s.note_key("server", k8s.PUSHED_AT): "9999-12-31T23:59:59+00:00",
        k8s.note_key("server", k8s.IMAGE_TAG): "<!channel> `x`",
        k8s.note_key("server", k8s.PREVIOUS_IMAGE): "<https://evil.example|click>",
    }
    current = deployment_with(notes, image="<!here>")
    push = parse_ecr_event(event(), now=NOW)
    run = TargetRun(target, "started", "")

    # WHEN a genuine push is decided against it
    needs_patch = _decide(push, run, current, NOW)

    # THEN it is patched (not stale), and what is shown of the old state carries no mention or link
    assert needs_patch and run.old_tag is None
    run.status, run.message = "succeeded", "deployment 'inference' successfully rolled out"
    message = render_notification(push, [run], dry_run=False)
    shown = json.dumps(message)
    assert "<!" not in shown and "<https" not in shown and "?" in message["blocks"][1]["text"]["text"]
    assert "unknown" in message["blocks"][1]["text"]["text"]  # the container's unreadable image


def test_every_outside_value_is_escaped_in_the_message():
    target = parse_targets(
        "targets: [{repository: ml/inference, namespace: n, deployment: inference, container: server}]", "t"
    ).targets[0]
    push = parse_ecr_event(event(), now=NOW)
    run = TargetRun(target, "failed", "patch refused: <!channel> & <https://x|y>", old_image="a/b:c", old_tag="1")
    message = render_notification(push, [run], dry_run=False)
    for block in message["blocks"][1:]:
        texts = [block["text"]["text"]] if "text" in block else [e["text"] for e in block["elements"]]
        for text in texts:
            assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt; &amp; &lt;https://x|y&gt;" in message["blocks"][1]["text"]["text"]
