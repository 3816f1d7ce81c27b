"""Amazon ECR events as EventBridge delivers them to the rollout Lambda.

An image push (https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html):

    {"version": "0", "id": "13cde686-...", "detail-type": "ECR Image Action", "source": "aws.ecr",
     "account": "123456789012", "time": "2019-11-16T01:54:34Z", "region": "us-west-2", "resources": [],
     "detail": {"result": "SUCCESS", "repository-name": "my-repository-name",
                "image-digest": "sha256:7f5b...", "action-type": "PUSH", "image-tag": "latest"}}

`action-type` is PUSH or DELETE, `result` SUCCESS or FAILURE; `image-tag` is absent for a push by
digest. The same rule target also sees `ECR Image Scan` and other ECR detail types: they parse as
`OtherEcrEvent` and are ignored with the reason.

Every field that reaches the image reference, an annotation or a message is held to its AWS or OCI
grammar here, so that the reference `<account>.dkr.ecr.<region>.<domain>/<repo>@<digest>` is built
only from parts that cannot carry a host, a path or a second reference (an `account` of
`evil.example.com:5000/pwn#` is refused, not rolled out). The event's time is bounded too: the rollout
judges later pushes against it, so one from the future would freeze every rollout until then.

The models are pydantic, shaped like powertools' `EventBridgeModel` (same fields, same aliases) and
validated the way its `parse` does (`model_validate`). They do not import powertools' parser package:
its `__init__` loads a pydantic model of every AWS event source, 150 ms of the Lambda's cold start
(`python -X importtime`) for the one envelope we read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from shared.errors import EventParseError

IMAGE_ACTION = "ECR Image Action"
# ECR's CreateRepository grammar (2 to 256 characters; namespaces with '/').
REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
# OCI distribution spec: a tag; a digest as ECR writes it (sha256 only, lower-case hex).
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
ACCOUNT = re.compile(r"[0-9]{12}")
# EventBridge event ids are UUIDs; replays and tests use short ids of the same alphabet.
EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# Enumerations AWS spells in capitals (PUSH, DELETE, SUCCESS, FAILURE); a new one is ignored, not refused.
_WORD = re.compile(r"[A-Z][A-Z_]{0,31}")
# The regions of the partitions whose registry host we know (botocore's partitions.json: regionRegex
# and dnsSuffix). ISO and sovereign partitions have registries elsewhere and are refused, not guessed.
_PARTITIONS = (
    (re.compile(r"(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-[0-9]{1,2}"), "amazonaws.com"),  # aws
    (re.compile(r"us-gov-[a-z]+-[0-9]{1,2}"), "amazonaws.com"),  # aws-us-gov
    (re.compile(r"cn-[a-z]+-[0-9]{1,2}"), "amazonaws.com.cn"),  # aws-cn
)
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
# ECR opened in December 2015: an earlier time is no ECR event. Later but old is fine (EventBridge
# archive replays): the rollout's stale check judges those.
EARLIEST = datetime(2015, 1, 1, tzinfo=UTC)
# How far ahead of our clock an event's time may be (clock skew), before it is refused.
MAX_FUTURE = timedelta(minutes=5)


def _show(value: str) -> str:
    return repr(value[:60] + ("..." if len(value) > 60 else ""))


def registry_domain(region: str) -> str | None:
    """The DNS suffix of the region's partition, or None for a region we do not roll out from."""
    return next((domain for pattern, domain in _PARTITIONS if pattern.fullmatch(region)), None)


def is_tag(value: Any) -> bool:
    return isinstance(value, str) and TAG.fullmatch(value) is not None


def is_digest(value: Any) -> bool:
    return isinstance(value, str) and DIGEST.fullmatch(value) is not None


def _grammar(pattern: re.Pattern[str], what: str, min_length: int = 1, max_length: int = 256):
    def check(value: str) -> str:
        if not min_length <= len(value) <= max_length or not pattern.fullmatch(value):
            raise PydanticCustomError("ecr_grammar", "not {what}: {value}", {"what": what, "value": _show(value)})
        return value

    return AfterValidator(check)


def _region(value: str) -> str:
    if registry_domain(value) is None:
        raise PydanticCustomError(
            "ecr_region",
            "not a region of the aws, aws-cn or aws-us-gov partition (such as us-east-1): {value}",
            {"value": _show(value)},
        )
    return value


def _rfc3339(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "ecr_time", "expected an RFC 3339 time string, got {type}", {"type": type(value).__name__}
        )
    if not _RFC3339.fullmatch(value):
        raise PydanticCustomError("ecr_time", "not an RFC 3339 time with a zone: {value}", {"value": _show(value)})
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("ecr_time", "out of range", {}) from None
    if utc < EARLIEST:
        raise PydanticCustomError(
            "ecr_time",
            "{value} is before ECR existed (earliest {earliest})",
            {"value": utc.isoformat(), "earliest": EARLIEST.date().isoformat()},
        )
    return utc


Account = Annotated[StrictStr, _grammar(ACCOUNT, "a 12-digit AWS account id", 12, 12)]
Region = Annotated[StrictStr, Field(max_length=32), AfterValidator(_region)]
Repository = Annotated[StrictStr, _grammar(REPOSITORY, "an ECR repository name", 2, 256)]
Digest = Annotated[StrictStr, _grammar(DIGEST, "a sha256 digest (sha256: and 64 lower-case hex digits)", 71, 71)]
Tag = Annotated[StrictStr, _grammar(TAG, "an OCI tag", 1, 128)]
EventId = Annotated[StrictStr, _grammar(EVENT_ID, "an event id", 1, 128)]
Word = Annotated[StrictStr, _grammar(_WORD, "an upper-case AWS value", 1, 32)]
EventTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]


class ImageActionDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow", frozen=True)

    result: Word
    repository_name: Repository = Field(alias="repository-name")
    image_digest: Digest = Field(alias="image-digest")
    action_type: Word = Field(alias="action-type")
    image_tag: Tag | None = Field(default=None, alias="image-tag")
    manifest_media_type: Annotated[StrictStr, Field(max_length=255)] | None = Field(
        default=None, alias="manifest-media-type"
    )
    artifact_media_type: Annotated[StrictStr, Field(max_length=255)] | None = Field(
        default=None, alias="artifact-media-type"
    )


class EventBridgeEvent(BaseModel):
    """The EventBridge envelope (https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html)."""

    model_config = ConfigDict(populate_by_name=True)

    version: Annotated[StrictStr, Field(max_length=16)]
    id: EventId
    source: Annotated[StrictStr, Field(max_length=256)]
    account: Account
    time: EventTime  # EventBridge always sends UTC with `Z`; a naive time would break the stale check
    region: Region
    resources: list[Annotated[StrictStr, Field(max_length=2048)]]
    detail_type: Annotated[StrictStr, Field(max_length=128)] = Field(alias="detail-type")  # PutEvents' limit
    detail: dict[str, Any]
    replay_name: Annotated[StrictStr, Field(max_length=256)] | None = Field(default=None, alias="replay-name")


class EcrImageActionEvent(EventBridgeEvent):
    detail: ImageActionDetail  # type: ignore[assignment]  # narrowed from the envelope's dict


class ImagePush(BaseModel):
    """What the rollout needs from a successful push, with the event's identity for idempotency.
    Validated again when built, whoever builds it: `image` is made of these parts only."""

    model_config = ConfigDict(frozen=True)

    event_id: EventId
    account: Account
    region: Region
    pushed_at: AwareDatetime
    repository: Repository
    digest: Digest
    tag: Tag | None
    action: Word
    result: Word

    @property
    def registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.{registry_domain(self.region)}"

    @property
    def image(self) -> str:
        """Pinned by digest: the tag may move, the digest cannot."""
        return f"{self.registry}/{self.repository}@{self.digest}"

    @property
    def idempotency_data(self) -> dict[str, str]:
        """The image's identity: the same repository name in another account or region is another
        registry, and its push another rollout (the image reference differs)."""
        return {"registry": self.registry, "repository": self.repository, "digest": self.digest}


class OtherEcrEvent(BaseModel):
    event_id: str
    detail_type: str


def _error(exc: ValidationError) -> EventParseError:
    first = exc.errors()[0]
    return EventParseError(first["msg"], field=".".join(str(p) for p in first["loc"]) or "event")


def parse_ecr_event(event: Any, *, now: datetime | None = None) -> ImagePush | OtherEcrEvent:
    """An ECR EventBridge event -> ImagePush (Image Action) or OtherEcrEvent; EventParseError otherwise.
    `now` (default: the system clock) bounds the event's time: more than MAX_FUTURE ahead is refused."""
    try:
        envelope = EventBridgeEvent.model_validate(event)
    except ValidationError as exc:
        raise _error(exc) from None
    if envelope.source != "aws.ecr":
        raise EventParseError(f"expected aws.ecr, got {_show(envelope.source)}", field="source")
    clock = now or datetime.now(UTC)
    if envelope.time > clock + MAX_FUTURE:
        ahead = f"more than {MAX_FUTURE.total_seconds() / 60:g} minutes ahead of our clock ({clock:%Y-%m-%dT%H:%M:%SZ})"
        raise EventParseError(f"{envelope.time:%Y-%m-%dT%H:%M:%SZ} is in the future: {ahead}", field="time")
    if envelope.detail_type != IMAGE_ACTION:
        return OtherEcrEvent(event_id=envelope.id, detail_type=envelope.detail_type)
    try:
        action = EcrImageActionEvent.model_validate(event)
    except ValidationError as exc:
        raise _error(exc) from None
    detail = action.detail
    return ImagePush(
        event_id=action.id,
        account=action.account,
        region=action.region,
        pushed_at=action.time,
        repository=detail.repository_name,
        digest=detail.image_digest,
        tag=detail.image_tag,
        action=detail.action_type,
        result=detail.result,
    )
