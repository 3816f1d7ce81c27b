"""What each trigger sends a function, built from what the emulators give: pure, table-driven.

- A GCS notification (fake-gcs-server publishes the Pub/Sub notification format: attributes
  `eventType`, `bucketId`, `objectId`...; data = the object resource) becomes the Eventarc CloudEvent
  `google.cloud.storage.object.v1.*` in binary mode, as Eventarc posts it to a Cloud Run service.
- A Pub/Sub message becomes the push request of the function's own push subscription (Terraform's
  gcp-function module): the wrapped JSON body POSTed to `/projects/P/topics/T`, which
  functions-framework turns into the `messagePublished` CloudEvent.
- A Cloud Scheduler HTTP job becomes its POST with the `X-CloudScheduler-*` headers.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.payloads.scheduler import SCHEDULE_TIME_HEADER
from tooling.fixture_factory import scheduler_http_request as scheduler_http_call

# GCS notification eventType -> the Eventarc CloudEvent type (Cloud Storage's direct events).
STORAGE_EVENT_TYPES = {
    "OBJECT_FINALIZE": "google.cloud.storage.object.v1.finalized",
    "OBJECT_DELETE": "google.cloud.storage.object.v1.deleted",
    "OBJECT_ARCHIVE": "google.cloud.storage.object.v1.archived",
    "OBJECT_METADATA_UPDATE": "google.cloud.storage.object.v1.metadataUpdated",
}
PUSH_USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"


@dataclass(frozen=True)
class Message:
    """A Pub/Sub message as pulled, free of the client library's types."""

    message_id: str
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    publish_time: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Request:
    """One HTTP request to a served function: what a trigger sends."""

    path: str
    headers: dict[str, str]
    body: bytes
    event_id: str  # what the function logs as its outcome line's event_id
    event_type: str
    subject: str  # a short human description for the console


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def storage_event(message: Message) -> tuple[str, str, Request] | None:
    """(bucket, CloudEvent type, request) for a GCS notification; None for a message that is not one."""
    attributes = message.attributes
    event_type = STORAGE_EVENT_TYPES.get(attributes.get("eventType", ""))
    bucket, name = attributes.get("bucketId"), attributes.get("objectId")
    if event_type is None or not bucket or not name or attributes.get("payloadFormat") != "JSON_API_V1":
        return None
    try:
        resource = json.loads(message.data)
    except ValueError:
        return None
    if not isinstance(resource, dict):  # JSON, but no object resource: not a notification either
        return None
    # When it happened (a delete's time is not its object's `updated`); fake-gcs gives whole seconds.
    when = attributes.get("eventTime") or _rfc3339(message.publish_time)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "ce-specversion": "1.0",
        "ce-id": message.message_id,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-type": event_type,
        "ce-subject": f"objects/{name}",
        "ce-time": when,
        "ce-bucket": bucket,  # Eventarc's extension attribute, the one its trigger filters on
    }
    generation = attributes.get("objectGeneration", "?")
    subject = f"gs://{bucket}/{name}#{generation} {event_type.rsplit('.', 1)[-1]}"
    body = json.dumps(resource).encode()
    return bucket, event_type, Request("/", headers, body, message.message_id, event_type, subject)


def push_request(
    message: Message, *, project: str, topic: str, subscription: str, delivery_attempt: int | None = None
) -> Request:
    """The body a push subscription POSTs (both key spellings, as Pub/Sub sends them). `delivery_attempt`:
    Pub/Sub adds it to the body when the subscription has a dead-letter policy."""
    published = _rfc3339(message.publish_time)
    wrapped: dict[str, Any] = {
        "data": base64.b64encode(message.data).decode("ascii"),
        "messageId": message.message_id,
        "message_id": message.message_id,
        "publishTime": published,
        "publish_time": published,
    }
    if message.attributes:
        wrapped["attributes"] = dict(message.attributes)
    body: dict[str, Any] = {"message": wrapped, "subscription": f"projects/{project}/subscriptions/{subscription}"}
    if delivery_attempt is not None:
        body["deliveryAttempt"] = delivery_attempt
    headers = {"Content-Type": "application/json", "User-Agent": PUSH_USER_AGENT}
    subject = f"{topic} message {message.message_id} ({len(message.data)} B)"
    return Request(
        f"/projects/{project}/topics/{topic}",
        headers,
        json.dumps(body).encode(),
        message.message_id,
        "google.cloud.pubsub.topic.v1.messagePublished",
        subject,
    )


def scheduler_http_request(job: str, payload: Any, schedule_time: datetime | None) -> Request:
    """Cloud Scheduler's HTTP target: the job's body, its name and (a scheduled run) its time as headers.
    The event id is the schedule time, what drift_report_http logs; a forced run has none."""
    call = scheduler_http_call(job, payload, schedule_time=schedule_time)
    headers = call["headers"]
    when = headers.get(SCHEDULE_TIME_HEADER, "")
    body = b"" if payload is None else json.dumps(payload).encode()
    subject = f"job {job} " + (f"scheduled {when}" if when else "run now")
    return Request("/", headers, body, when, "http", subject)
