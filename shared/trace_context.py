"""The trace a request belongs to, read from its headers, so that every line logged while it runs carries
Cloud Logging's `logging.googleapis.com/trace` and a request's lines can be grouped.

Two headers carry it: W3C `traceparent: 00-<32 hex trace>-<16 hex span>-<2 hex flags>` (Cloud Run and
Eventarc send it; Eventarc also as the CloudEvent extension attribute `traceparent`) and Google's
`X-Cloud-Trace-Context: <32 hex trace>/<decimal span>;o=<0|1>`. The values come from outside: only their
grammar is taken, anything else is no trace (never an error: tracing must not fail a request).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z")
_CLOUD_TRACE = re.compile(r"([0-9a-f]{32})(?:/([0-9]{1,20}))?(?:;o=([01]))?\Z")
_NO_TRACE, _NO_SPAN = "0" * 32, "0" * 16  # all zeros is invalid in W3C trace context
_HEADER_LENGTH = 512  # far over either grammar: a longer value is not parsed at all


@dataclass(frozen=True)
class TraceContext:
    trace_id: str  # 32 lowercase hex digits
    span_id: str | None  # 16 lowercase hex digits, as Cloud Logging's spanId
    sampled: bool | None

    def log_fields(self, project: str | None) -> dict[str, object]:
        """The special fields Cloud Logging reads from a JSON line; none without a project to name."""
        if not project:
            return {}
        fields: dict[str, object] = {"logging.googleapis.com/trace": f"projects/{project}/traces/{self.trace_id}"}
        if self.span_id:
            fields["logging.googleapis.com/spanId"] = self.span_id
        if self.sampled is not None:
            fields["logging.googleapis.com/trace_sampled"] = self.sampled
        return fields


def from_traceparent(value: str | None) -> TraceContext | None:
    found = _TRACEPARENT.match(value.strip(" \t")) if value and len(value) <= _HEADER_LENGTH else None
    if not found or found.group(1) == _NO_TRACE or found.group(2) == _NO_SPAN:
        return None
    return TraceContext(found.group(1), found.group(2), bool(int(found.group(3), 16) & 1))


def from_cloud_trace_context(value: str | None) -> TraceContext | None:
    found = _CLOUD_TRACE.match(value.strip(" \t")) if value and len(value) <= _HEADER_LENGTH else None
    if not found or found.group(1) == _NO_TRACE:
        return None
    span = int(found.group(2)) if found.group(2) else 0
    span_id = f"{span:016x}" if 0 < span < 2**64 else None  # decimal there, 16 hex digits in Cloud Logging
    sampled = None if found.group(3) is None else found.group(3) == "1"
    return TraceContext(found.group(1), span_id, sampled)


def from_headers(
    get: Callable[[str], str | None], *, cloud_event_traceparent: str | None = None
) -> TraceContext | None:
    """The request's trace: its `traceparent`, else `X-Cloud-Trace-Context`, else the CloudEvent's own."""
    return (
        from_traceparent(get("traceparent"))
        or from_cloud_trace_context(get("X-Cloud-Trace-Context"))
        or from_traceparent(cloud_event_traceparent)
    )


_current: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar("mlops_events_trace", default=None)
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("mlops_events_request_id", default=None)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")


@contextlib.contextmanager
def tracing(trace: TraceContext | None, *, request_id: str | None = None) -> Iterator[None]:
    """Lines logged inside the block carry `trace`, and `request_id` when given (shared.log reads them)."""
    token = _current.set(trace)
    request = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(request)
        _current.reset(token)


def request_id_from(value: str | None) -> str | None:
    """A caller's request id (`X-Request-Id`) when it is a plain token, else None: it goes into log lines."""
    return value if value and _REQUEST_ID.match(value) else None


def current_log_fields() -> dict[str, object]:
    trace, request_id = _current.get(), _request_id.get()
    fields: dict[str, object] = {"request_id": request_id} if request_id else {}
    if trace is not None:
        project = os.environ.get("MLOPS_EVENTS_GCP_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT")
        fields.update(trace.log_fields(project))
    return fields
