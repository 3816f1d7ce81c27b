"""What functions-framework cannot parse is bad input too: `rejected` and acknowledged, not a 500.

functions-framework turns the request into a CloudEvent before our code runs. A body it cannot read (a
JSON array or string, JSON nested past the parser's depth, neither a CloudEvent nor a legacy
background event) raised inside the framework: HTTP 500, and Pub/Sub or Eventarc redelivered it until
it was dead-lettered (or for 24 hours). `cloud_event(name)` wraps the entry point so that such a
failure is logged as one `rejected` outcome line and answered 200 (acknowledged, as every rejection
is), while a failure inside our own handling keeps its meaning (retry: 500, redelivered).
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

_REACHED = "mlops_events_reached_the_function"


def cloud_event(name: str) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """`functions_framework.cloud_event`, with the framework's own parse failures rejected (see above)."""

    def register(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
        @functools.wraps(function)
        def entry(event: Any) -> Any:
            if flask.has_request_context():
                setattr(flask.g, _REACHED, True)  # from here on, a failure is ours to classify
            return function(event)

        _register_on_the_app_being_made(functools.partial(_answer, name))
        return functions_framework.cloud_event(entry)

    return register


def _register_on_the_app_being_made(handler: Callable[[Exception], Any]) -> None:
    """On the app create_app is making while it loads this module (it points `functions_framework.errorhandler`
    there first). Loaded any other way (a test importing the module, a stand-in before any app), there is
    no such app, or only one that already served requests, where Flask refuses new handlers: nothing to do."""
    register = functions_framework.errorhandler
    app = getattr(register, "__self__", None)
    if app is not None and not getattr(app, "_got_first_request", False):
        register(Exception)(handler)


def http(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`functions_framework.http` for a module that also has a `cloud_event` entry point: its failures
    are its own (the module-wide error handler must not read them as an unparsable event)."""

    @functools.wraps(function)
    def entry(request: Any) -> Any:
        setattr(flask.g, _REACHED, True)
        return function(request)

    return functions_framework.http(entry)


def _answer(name: str, exc: Exception) -> Any:
    if getattr(flask.g, _REACHED, False):
        # Ours: the outcome line is logged already; a retry or a bug keeps its 5xx so the event comes back.
        return exc if isinstance(exc, HTTPException) else InternalServerError()
    if isinstance(exc, HTTPException) and exc.code != 400:
        return exc  # a wrong path or method is not an event at all
    from shared.runtime import run_event  # the runtime imports the logging setup: only when needed

    if isinstance(exc, RecursionError):
        reason = "the body is not a CloudEvent: nested past the parser's depth"
    elif isinstance(exc, HTTPException):  # its description quotes the headers and the body: not repeated
        reason = "the body is not a CloudEvent, nor a background event"
    else:
        reason = f"the body is not a CloudEvent ({type(exc).__name__})"

    def refuse() -> Outcome:
        raise EventParseError(reason, field="body")

    outcome = run_event(name, None, refuse)
    return {"outcome": str(outcome.status), "detail": outcome.detail}, 200
