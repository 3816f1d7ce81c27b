"""Builds real-shaped events and renders them in the three HTTP forms a function can receive.

Used by `mlops-events generate-event` (the spirit of `sam local generate-event`) and to write the
fixtures under events/. The shapes follow Eventarc's CloudEvents for Cloud Storage and Pub/Sub.
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shared.adapters.gcs_checksums import gcs_crc32c, gcs_md5
from tooling.delivery import LEGACY_TO_CLOUDEVENT_TYPE

MODES = ("structured", "binary", "legacy")
_LEGACY_STORAGE_TYPES = {
    ce: legacy for legacy, ce in LEGACY_TO_CLOUDEVENT_TYPE.items() if legacy.startswith("google.storage")
}


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def storage_object_data(
    bucket: str,
    name: str,
    *,
    generation: int,
    content: bytes | None = None,
    size: int | None = None,
    content_type: str = "application/octet-stream",
    metadata: dict[str, str] | None = None,
    time_created: datetime,
    metageneration: int = 1,
) -> dict[str, Any]:
    """StorageObjectData as GCS sends it: int64 fields are JSON strings."""
    data: dict[str, Any] = {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{generation}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{name.replace('/', '%2F')}",
        "mediaLink": f"https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/"
        f"{name.replace('/', '%2F')}?generation={generation}&alt=media",
        "name": name,
        "bucket": bucket,
        "generation": str(generation),
        "metageneration": str(metageneration),
        "contentType": content_type,
        "timeCreated": _rfc3339(time_created),
        "updated": _rfc3339(time_created),
        "storageClass": "STANDARD",
        "timeStorageClassUpdated": _rfc3339(time_created),
        "size": str(len(content) if content is not None else (size or 0)),
        "etag": base64.b64encode(generation.to_bytes(8, "big")).decode().rstrip("="),
    }
    if content is not None:
        data["md5Hash"] = gcs_md5(content)
        data["crc32c"] = gcs_crc32c(content)
    if metadata:
        data["metadata"] = dict(metadata)
    return data


def storage_cloud_event(
    event_type: str, data: dict[str, Any], *, event_id: str | None = None, time: datetime | None = None
) -> dict[str, Any]:
    """A structured-mode CloudEvent as Eventarc delivers a Cloud Storage event."""
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4().int)[:16],
        "type": event_type,
        "source": f"//storage.googleapis.com/projects/_/buckets/{data['bucket']}",
        "subject": f"objects/{data['name']}",
        "time": _rfc3339(time or datetime.now(UTC)),
        "datacontenttype": "application/json",
        "data": data,
    }


def pubsub_cloud_event(
    body: Any,
    *,
    topic: str,
    project: str = "mlops-events-local",
    attributes: dict[str, str] | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """A structured-mode `messagePublished` CloudEvent with the JSON `body` base64-encoded as Pub/Sub does."""
    message_id = event_id or str(uuid.uuid4().int)[:16]
    published = _rfc3339(time or datetime.now(UTC))
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    message: dict[str, Any] = {
        "data": base64.b64encode(raw).decode("ascii"),
        "messageId": message_id,
        "publishTime": published,
    }
    if attributes:
        message["attributes"] = dict(attributes)
    return {
        "specversion": "1.0",
        "id": message_id,
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": f"//pubsub.googleapis.com/projects/{project}/topics/{topic}",
        "time": published,
        "datacontenttype": "application/json",
        "data": {"message": message, "subscription": f"projects/{project}/subscriptions/{topic}-push"},
    }


def render(event: dict[str, Any], mode: str) -> dict[str, Any]:
    """The fixture file content for a structured CloudEvent delivered in `mode`."""
    if mode == "structured":
        return event
    if mode == "binary":
        headers = {"Content-Type": event.get("datacontenttype", "application/json")}
        headers.update({f"ce-{k}": v for k, v in event.items() if k not in {"data", "datacontenttype"}})
        return {"headers": headers, "body": event["data"]}
    if mode == "legacy":
        legacy_type = _LEGACY_STORAGE_TYPES.get(event["type"])
        if legacy_type is None:
            raise ValueError(f"no legacy background form for {event['type']}")
        data = event["data"]
        return {
            "context": {
                "eventId": event["id"],
                "timestamp": event["time"],
                "eventType": legacy_type,
                "resource": {
                    "service": "storage.googleapis.com",
                    "name": f"projects/_/buckets/{data['bucket']}/objects/{data['name']}",
                    "type": "storage#object",
                },
            },
            "data": data,
        }
    raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")


def write_fixture(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, sort_keys=False) + "\n")


def ecr_image_action_event(
    repository: str,
    digest: str,
    *,
    tag: str | None = None,
    action: str = "PUSH",
    result: str = "SUCCESS",
    account: str = "123456789012",
    region: str = "us-east-1",
    time: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The EventBridge event ECR sends when a push (or delete) completes; a push by digest has no tag."""
    detail: dict[str, Any] = {
        "result": result,
        "repository-name": repository,
        "image-digest": digest,
        "action-type": action,
    }
    if tag is not None:
        detail["image-tag"] = tag
    if action == "PUSH":
        detail["manifest-media-type"] = "application/vnd.oci.image.manifest.v1+json"
        detail["artifact-media-type"] = "application/vnd.oci.image.config.v1+json"
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": account,
        "time": (time or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": detail,
    }


BUDGET_TOPIC = "billing-budget-alerts"


BILLING_TIME_ZONE = "America/Los_Angeles"  # Cloud Billing's cost intervals start at Pacific midnight


def billing_interval_start(day: date | datetime) -> datetime:
    """The start of the monthly cost interval holding `day`, as Cloud Billing writes it: the first of the
    month at midnight US Pacific time (07:00 or 08:00 UTC). A datetime is read in Pacific time first."""
    pacific = ZoneInfo(BILLING_TIME_ZONE)
    local = day.astimezone(pacific).date() if isinstance(day, datetime) else day
    return datetime(local.year, local.month, 1, tzinfo=pacific).astimezone(UTC)


def budget_notification_data(
    *,
    display_name: str,
    amount: float,
    cost: float,
    interval_start: datetime,
    currency: str = "USD",
    threshold: float | None = None,
    forecast: bool = False,
    amount_type: str = "SPECIFIED_AMOUNT",
) -> dict[str, Any]:
    """The JSON Cloud Billing publishes (schemaVersion 1.0): a threshold key only when one was crossed."""
    for name, value in (("amount", amount), ("cost", cost), ("threshold", threshold)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    if forecast and threshold is None:
        raise ValueError("a forecast notification needs the threshold it crossed")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValueError(f"currency must be an ISO 4217 code such as USD, got {currency!r}")
    data: dict[str, Any] = {
        "budgetDisplayName": display_name,
        "costAmount": cost,
        "costIntervalStart": interval_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "budgetAmount": amount,
        "budgetAmountType": amount_type,
        "currencyCode": currency,
    }
    if threshold is not None:
        data["forecastThresholdExceeded" if forecast else "alertThresholdExceeded"] = threshold
    return data


def budget_cloud_event(
    data: dict[str, Any],
    *,
    budget_id: str,
    billing_account: str,
    topic: str = BUDGET_TOPIC,
    event_id: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """The budget's notification as its topic's push subscription delivers it (messagePublished)."""
    attributes = {"billingAccountId": billing_account, "budgetId": budget_id, "schemaVersion": "1.0"}
    return pubsub_cloud_event(data, topic=topic, attributes=attributes, event_id=event_id, time=time)


def scheduler_http_request(job: str, body: Any, *, schedule_time: datetime | None) -> dict[str, Any]:
    """A Cloud Scheduler HTTP target's call as a fixture (`{"headers", "body"}`); no schedule time means
    "run now", as for a job forced from the console."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Google-Cloud-Scheduler",
        "X-CloudScheduler": "true",
        "X-CloudScheduler-JobName": job,
    }
    if schedule_time is not None:
        headers["X-CloudScheduler-ScheduleTime"] = schedule_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"headers": headers, "body": body}
