"""Amazon ECR events as EventBridge delivers them to the rollout Lambda.

An image push (https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html):

    {"version": "0", "id": "13cde686-...", "detail-type": "ECR Image Action", "source": "aws.ecr",
     "account": "123456789012", "time": "2019-11-16T01:54:34Z", "region": "us-west-2", "resources": [],
     "detail": {"result": "SUCCESS", "repository-name": "my-repository-name",
                "image-digest": "sha256:7f5b...", "action-type": "PUSH", "image-tag": "latest"}}

`action-type` is PUSH or DELETE, `result` SUCCESS or FAILURE; `image-tag` is absent for a push by
digest. The same rule target also sees `ECR Image Scan` and other ECR detail types: they parse as
`OtherEcrEvent` and are ignored with the reason.

The models are pydantic, shaped like powertools' `EventBridgeModel` (same fields, same aliases) and
validated the way its `parse` does (`model_validate`). They do not import powertools' parser package:
its `__init__` loads a pydantic model of every AWS event source, 150 ms of the Lambda's cold start
(`python -X importtime`) for the one envelope we read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.errors import EventParseError

IMAGE_ACTION = "ECR Image Action"
# Repository names as ECR allows them (namespaces with '/'); digests as OCI writes sha256 ones.
_REPOSITORY = r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"
_DIGEST = r"^sha256:[0-9a-f]{64}$"
_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"


class ImageActionDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow", frozen=True)

    result: str
    repository_name: str = Field(alias="repository-name", pattern=_REPOSITORY, max_length=256)
    image_digest: str = Field(alias="image-digest", pattern=_DIGEST)
    action_type: str = Field(alias="action-type")
    image_tag: str | None = Field(default=None, alias="image-tag", pattern=_TAG)
    manifest_media_type: str | None = Field(default=None, alias="manifest-media-type")
    artifact_media_type: str | None = Field(default=None, alias="artifact-media-type")


class EventBridgeEvent(BaseModel):
    """The EventBridge envelope (https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html)."""

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: str
    account: str
    time: AwareDatetime  # EventBridge always sends UTC with `Z`; a naive time would break the stale check
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: dict[str, Any]
    replay_name: str | None = Field(default=None, alias="replay-name")


class EcrImageActionEvent(EventBridgeEvent):
    detail: ImageActionDetail  # type: ignore[assignment]  # narrowed from the envelope's dict


class ImagePush(BaseModel):
    """What the rollout needs from a successful push, with the event's identity for idempotency."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    account: str
    region: str
    pushed_at: datetime
    repository: str
    digest: str
    tag: str | None
    action: str
    result: str

    @property
    def registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"

    @property
    def image(self) -> str:
        """Pinned by digest: the tag may move, the digest cannot."""
        return f"{self.registry}/{self.repository}@{self.digest}"

    @property
    def idempotency_data(self) -> dict[str, str]:
        return {"repository": self.repository, "digest": self.digest}


class OtherEcrEvent(BaseModel):
    event_id: str
    detail_type: str


def _field(error: ValidationError) -> str:
    first = error.errors()[0]
    return ".".join(str(p) for p in first["loc"]) or "event"


def parse_ecr_event(event: Any) -> ImagePush | OtherEcrEvent:
    """An ECR EventBridge event -> ImagePush (Image Action) or OtherEcrEvent; EventParseError otherwise."""
    try:
        envelope = EventBridgeEvent.model_validate(event)
    except ValidationError as exc:
        raise EventParseError(exc.errors()[0]["msg"], field=_field(exc)) from None
    if envelope.source != "aws.ecr":
        raise EventParseError(f"expected aws.ecr, got {envelope.source!r}", field="source")
    if envelope.detail_type != IMAGE_ACTION:
        return OtherEcrEvent(event_id=envelope.id, detail_type=envelope.detail_type)
    try:
        action = EcrImageActionEvent.model_validate(event)
    except ValidationError as exc:
        raise EventParseError(exc.errors()[0]["msg"], field=_field(exc)) from None
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
