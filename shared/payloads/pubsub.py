"""Pub/Sub `google.cloud.pubsub.topic.v1.messagePublished` events (data = {message, subscription}).

Push deliveries and client libraries spell keys camelCase or snake_case (`messageId` / `message_id`),
so both are read.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.errors import EventParseError
from shared.payloads import _fields
from shared.payloads.cloudevent import EventEnvelope

PUBSUB_MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


@dataclass(frozen=True)
class PubsubMessage:
    event_id: str
    message_id: str
    publish_time: datetime | None
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    subscription: str | None = None

    def json(self) -> Any:
        """The message body as JSON; an empty body is an empty object."""
        if not self.data.strip():
            return {}
        try:
            return json.loads(self.data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # nested past the parser's depth: no event of ours
            raise EventParseError("is not valid UTF-8 JSON", field="message.data") from None


def _either(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    return obj.get(camel) if obj.get(camel) is not None else obj.get(snake)


def parse_pubsub_message(envelope: EventEnvelope) -> PubsubMessage:
    if envelope.type != PUBSUB_MESSAGE_PUBLISHED:
        raise EventParseError(f"{envelope.type!r} is not a Pub/Sub messagePublished event", field="type")
    data = _fields.require_mapping(envelope.data, "data")
    message = _fields.require_mapping(data.get("message"), "message")
    raw = message.get("data")
    if raw is None:
        body = b""
    elif isinstance(raw, str):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise EventParseError("is not valid base64", field="message.data") from None
    else:
        raise EventParseError(f"expected a base64 string, got {type(raw).__name__}", field="message.data")
    normalized = {
        "messageId": _either(message, "messageId", "message_id"),
        "publishTime": _either(message, "publishTime", "publish_time"),
    }
    return PubsubMessage(
        event_id=envelope.id,
        message_id=_fields.string(
            normalized, "messageId", "message.messageId", required=False, max_chars=_fields.MAX_ID
        )
        or envelope.id,
        publish_time=_fields.timestamp(normalized, "publishTime", "message.publishTime", required=False),
        data=body,
        attributes=_fields.string_map(message, "attributes", "message.attributes"),
        subscription=_fields.string(data, "subscription", "subscription", required=False),
    )
