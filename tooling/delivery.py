"""Turns a saved fixture file into the HTTP request a platform would send, and sends it to a served function.

Fixture forms (told apart by content, named `*.structured.json`, `*.binary.json`, `*.legacy.json`):
- structured: a CloudEvent JSON document, sent as `application/cloudevents+json`;
- binary: `{"headers": {"ce-id": ...}, "body": <JSON value> | "body_raw": "<text>"}`;
- legacy: a background event `{"context": ..., "data": ...}` (or its flat form with `eventId`).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import EventParseError

# Background (legacy) event types and the CloudEvent types functions-framework converts them to.
LEGACY_TO_CLOUDEVENT_TYPE = {
    "google.storage.object.finalize": "google.cloud.storage.object.v1.finalized",
    "google.storage.object.delete": "google.cloud.storage.object.v1.deleted",
    "google.storage.object.archive": "google.cloud.storage.object.v1.archived",
    "google.storage.object.metadataUpdate": "google.cloud.storage.object.v1.metadataUpdated",
    "google.pubsub.topic.publish": "google.cloud.pubsub.topic.v1.messagePublished",
}


@dataclass(frozen=True)
class HttpDelivery:
    headers: dict[str, str]
    body: bytes
    mode: str
    event_type: str | None


def delivery_from_fixture(path: Path) -> HttpDelivery:
    """OSError when the file cannot be read; EventParseError when what it holds is not JSON."""
    return delivery_from_document(read_event_file(path))


def read_event_file(path: Path) -> Any:
    return event_from_bytes(path.read_bytes(), str(path))


def event_from_bytes(data: bytes, label: str) -> Any:
    """The JSON document of one saved event; EventParseError naming `label` when it is none."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested past the parser's depth
        reason = "nested past the parser's depth" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise EventParseError(f"{label}: not a JSON event: {reason}") from None


def events_from_stream(data: bytes, label: str = "<stdin>") -> list[tuple[str, bytes]]:
    """What `replay -` reads: one JSON event, or JSON lines (one event per line, blank lines skipped).
    Each as (label, its bytes): a line that is no JSON is rejected on its own."""
    try:
        json.loads(data)
        return [(label, data)]
    except (ValueError, RecursionError):
        lines = [line for line in data.splitlines() if line.strip()]
        if len(lines) <= 1:
            return [(label, data)]
        return [(f"{label}:{number}", line) for number, line in enumerate(lines, 1)]


def delivery_from_document(content: Any) -> HttpDelivery:
    if isinstance(content, dict) and "headers" in content:
        if not isinstance(content["headers"], dict):
            raise EventParseError("expected an object of HTTP headers", field="headers")
        headers = dict(_header(k, v) for k, v in content["headers"].items())
        raw = content.get("body_raw")
        if raw is not None and not isinstance(raw, str):
            raise EventParseError("expected the body as text", field="body_raw")
        body = raw.encode("utf-8", "surrogatepass") if raw is not None else _json_bytes(content.get("body"))
        event_type = next((v for k, v in headers.items() if k.lower() == "ce-type"), None)
        return HttpDelivery(headers, body, "binary", event_type)
    body = _json_bytes(content)
    if isinstance(content, dict) and "specversion" in content:
        return HttpDelivery(
            {"Content-Type": "application/cloudevents+json"}, body, "structured", _text_or_none(content.get("type"))
        )
    if isinstance(content, dict) and ("context" in content or "eventId" in content):
        context = content.get("context", content)
        legacy_type = _text_or_none(context.get("eventType") if isinstance(context, dict) else None)
        event_type = LEGACY_TO_CLOUDEVENT_TYPE.get(legacy_type, legacy_type) if legacy_type else None
        return HttpDelivery({"Content-Type": "application/json"}, body, "legacy", event_type)
    if isinstance(content, dict) and "detail-type" in content and "source" in content:  # EventBridge
        return HttpDelivery(
            {"Content-Type": "application/json"}, body, "eventbridge", _text_or_none(content.get("detail-type"))
        )
    # Anything else is sent as it is: the function must answer it with a clear rejection.
    return HttpDelivery({"Content-Type": "application/json"}, body, "unknown", None)


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110: a header's name


def _header(name: Any, value: Any) -> tuple[str, str]:
    """What HTTP can carry: a token for a name, latin-1 text on one line for a value. A fixture's header
    that is not is bad input, not sent (http.client raised UnicodeEncodeError on it)."""
    text = value if isinstance(value, str) else json.dumps(value)
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise EventParseError(f"{str(name)[:40]!r} is no HTTP header name", field="headers")
    if any(c in text for c in "\r\n\x00") or not all(ord(c) < 256 for c in text):
        raise EventParseError(f"{name}: a value HTTP cannot carry (a line break, NUL or non-latin-1)", field="headers")
    return name, text


def _text_or_none(value: Any) -> str | None:
    """An event type read only to route the event: a value that is no text routes nowhere."""
    return value if isinstance(value, str) else None


def _json_bytes(value: Any) -> bytes:
    """As the fixture holds it: a lone surrogate or NaN that json read is sent back as it came."""
    return json.dumps(value).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Answer:
    """A served function's HTTP answer; `headers` keys are lower case (HTTP names are case-insensitive)."""

    status: int
    headers: dict[str, str]
    body: str


def exchange(url: str, delivery: HttpDelivery, *, timeout_s: float = 60.0) -> Answer:
    """POST the delivery to a function served at `url`, as Eventarc or a push subscription would.
    An error status is an answer here, not an exception; nothing listening raises `OSError`."""
    request = urllib.request.Request(url, data=delivery.body, headers=delivery.headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return Answer(response.status, _lowered(response.headers), response.read().decode(errors="replace"))
    except urllib.error.HTTPError as answer:
        return Answer(answer.code, _lowered(answer.headers), answer.read().decode(errors="replace"))


def _lowered(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()} if headers else {}


def send(url: str, delivery: HttpDelivery, *, timeout_s: float = 60.0) -> tuple[int, str]:
    """`exchange`, for callers that need only the status and the body."""
    answer = exchange(url, delivery, timeout_s=timeout_s)
    return answer.status, answer.body


# The Lambda Invoke API path, as AWS, `sam local start-lambda` and the Lambda RIE serve it.
_LAMBDA_INVOKE_PATH = re.compile(r"/2015-03-31/functions/([^/]+)/invocations/?")


def lambda_function_in(url: str) -> str | None:
    """The function a Lambda Invoke API URL calls; None for any other URL (a function served over HTTP)."""
    found = _LAMBDA_INVOKE_PATH.fullmatch(urllib.parse.urlsplit(url).path)
    return urllib.parse.unquote(found.group(1)) if found else None


def lambda_invocation(content: Any) -> HttpDelivery:
    """An Invoke API request takes the event itself as its body: the whole saved document."""
    event_type = _text_or_none(content.get("detail-type")) if isinstance(content, dict) else None
    return HttpDelivery({"Content-Type": "application/json"}, _json_bytes(content), "lambda", event_type)
