"""What functions-framework cannot parse is bad input too: `rejected` and acknowledged, not a 500.

functions-framework turns the request into a CloudEvent before our code runs. A body it cannot read (a
JSON array or string, JSON nested past the parser's depth, neither a CloudEvent nor a legacy
background event) raised inside the framework: HTTP 500, and Pub/Sub or Eventarc redelivered it until
it was dead-lettered (or for 24 hours). `cloud_event(name)` wraps the entry point so that such a
failure is logged as one `rejected` outcome line and answered 200 (acknowledged, as every rejection
is), while a failure inside our own handling keeps its meaning (retry: 500, redelivered).

The same holds for a body the framework refuses by its size or content type (413, 415): Pub/Sub and
Eventarc redeliver any non-2xx answer, so a refusal that is not acknowledged comes back forever.
Bodies over MAX_EVENT_BYTES are refused unread: none of our events comes near it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flask
import functions_framework
from werkzeug.exceptions import HTTPException, InternalServerError

from shared.errors import EventParseError
from shared.outcome import Outcome
from shared.trace_context import from_headers, tracing

_REACHED = "mlops_events_reached_the_function"
# Over what any trigger can deliver (a 10 MB Pub/Sub message is 13.4 MB as base64 in a push body): a
# bigger body is no event of ours. Fields have their own limits (shared/payloads/_fields.py).
MAX_EVENT_BYTES = 16 * 1024 * 1024
# What the framework answers for a body that is no event of ours: rejected and acknowledged.
_NOT_AN_EVENT = {
    400: "is not a CloudEvent, nor a background event",
    415: "is not a CloudEvent: no event comes with its content type",
}


def cloud_event(name: str) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """`functions_framework.cloud_event`, with the framework's own parse failures rejected (see above)."""

    def register(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
        @functools.wraps(function)
        def entry(event: Any) -> Any:
            if not flask.has_request_context():
                return function(event)
            setattr(flask.g, _REACHED, True)  # from here on, a failure is ours to classify
            with tracing(from_headers(flask.request.headers.get, cloud_event_traceparent=_traceparent_of(event))):
                return function(event)

        _on_the_app_being_made(functools.partial(_answer, name))
        return functions_framework.cloud_event(entry)

    return register


def _on_the_app_being_made(handler: Callable[[Exception], Any]) -> None:
    """Register the error handler and the body limit on the app create_app is making while it loads this
    module (it points `functions_framework.errorhandler` there first). Loaded any other way (a test
    importing the module, a stand-in before any app), there is no such app, or only one that already
    served requests, where Flask refuses new handlers: nothing to do."""
    register = functions_framework.errorhandler
    app = getattr(register, "__self__", None)
    if app is not None and not getattr(app, "_got_first_request", False):
        register(Exception)(handler)
        app.config["MAX_CONTENT_LENGTH"] = MAX_EVENT_BYTES


def http(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`functions_framework.http` for a module that also has a `cloud_event` entry point: its failures
    are its own (the module-wide error handler must not read them as an unparsable event)."""

    @functools.wraps(function)
    def entry(request: Any) -> Any:
        setattr(flask.g, _REACHED, True)
        with tracing(from_headers(flask.request.headers.get)):
            return function(request)

    return functions_framework.http(entry)


def _traceparent_of(event: Any) -> str | None:
    """Eventarc's distributed-tracing extension attribute, when the CloudEvent has one."""
    try:
        value = event.get("traceparent")
    except Exception:  # an object too broken to ask: no trace, and the handler judges the rest
        return None
    return value if isinstance(value, str) else None


def _answer(name: str, exc: Exception) -> Any:
    if getattr(flask.g, _REACHED, False):
        # Ours: the outcome line is logged already; a retry or a bug keeps its 5xx so the event comes back.
        return exc if isinstance(exc, HTTPException) else InternalServerError()
    if isinstance(exc, HTTPException) and exc.code == 413:
        reason = f"the body is over the {MAX_EVENT_BYTES // 2**20} MiB limit of an event"
    elif isinstance(exc, HTTPException) and exc.code in _NOT_AN_EVENT:
        # its description quotes the headers and the body: not repeated
        reason = f"the body {_NOT_AN_EVENT[exc.code]}"
    elif isinstance(exc, HTTPException):
        return exc  # a wrong path or method is not an event at all
    elif isinstance(exc, RecursionError):
        reason = "the body is not a CloudEvent: nested past the parser's depth"
    else:
        reason = f"the body is not a CloudEvent ({type(exc).__name__})"
    from shared.runtime import run_event  # the runtime imports the logging setup: only when needed

    def refuse() -> Outcome:
        raise EventParseError(reason, field="body")

    outcome = run_event(name, None, refuse)
    return {"outcome": str(outcome.status), "detail": outcome.detail}, 200
