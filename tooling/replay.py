"""Replays saved events through the real functions-framework app of the function they belong to.

The outcome is read from the function's own structured outcome log line: that line is the contract
between a function and whoever watches it, in the cloud as here.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from shared.errors import EventParseError, MlopsEventsError
from shared.log import OUTCOME_LOGGER_NAME
from tooling.delivery import (
    HttpDelivery,
    delivery_from_document,
    event_from_bytes,
    exchange,
    lambda_function_in,
    lambda_invocation,
)
from tooling.event_routes import function_for
from tooling.manifest import FunctionSpec, function_named, load_manifest


@dataclass(frozen=True)
class ReplayResult:
    event: str
    function: str | None
    outcome: str  # applied | duplicate | ignored | rejected | error
    detail: str
    http_status: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.event, "function": self.function, "outcome": self.outcome, "detail": self.detail}


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.fields: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.fields.append(dict(getattr(record, "fields", {})))


@contextlib.contextmanager
def _outcome_lines() -> Iterator[_Capture]:
    """The outcome lines the function logs while the block runs."""
    capture = _Capture()
    outcome_logger = logging.getLogger(OUTCOME_LOGGER_NAME)
    outcome_logger.addHandler(capture)
    try:
        yield capture
    finally:
        outcome_logger.removeHandler(capture)


def _framework_rejection(text: str) -> str:
    """functions-framework answers 400 when a body is neither a CloudEvent nor a background event."""
    text = html.unescape(text)
    found = re.search(r"Got CloudEvent exception: (.*)", text)
    reason = found.group(1).strip() if found else text.strip().splitlines()[-1][:300]
    return f"not a CloudEvent (structured or binary) nor a background event: {reason}"


class Replayer:
    def __init__(self, specs: list[FunctionSpec] | None = None, *, lambda_stdout: TextIO | None = None) -> None:
        """`lambda_stdout`: where a Lambda's own stdout goes (powertools prints its metrics there, as
        CloudWatch's embedded metric format); default stderr, so our stdout stays ours."""
        self._specs = specs or load_manifest()
        self._clients: dict[str, Any] = {}
        self._lambda_stdout = lambda_stdout

    def _client(self, spec: FunctionSpec) -> Any:
        if spec.name not in self._clients:
            from functions_framework import create_app

            app = create_app(spec.entry_point, str(spec.source_path), spec.signature)
            self._clients[spec.name] = app.test_client()
        return self._clients[spec.name]

    def replay_file(self, path: Path, function: str | None = None) -> ReplayResult:
        """A file that holds no event is `rejected`, as its function would reject the body; one that
        cannot be read, or that no function takes, is an `error` (nothing was sent)."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            return ReplayResult(str(path), function, "error", f"cannot read {path}: {exc.strerror or exc}")
        return self.replay_bytes(data, label=str(path), path=path, function=function)

    def replay_bytes(
        self, data: bytes, *, label: str, path: Path | None = None, function: str | None = None
    ) -> ReplayResult:
        """One saved event as read (a file's bytes, a line of standard input). `path`: where it lies,
        so a repository fixture goes to the function whose fixtures hold it."""
        try:
            document = event_from_bytes(data, label)
            delivery = delivery_from_document(document)
        except EventParseError as exc:
            return ReplayResult(label, function, "rejected", str(exc))
        try:
            spec = function_named(function, self._specs) if function else function_for(path, document, self._specs)
        except EventParseError as exc:  # no trigger takes it
            return ReplayResult(label, function, "rejected", str(exc))
        except MlopsEventsError as exc:
            return ReplayResult(label, function, "error", str(exc))
        if spec.platform == "aws-lambda":
            return self.invoke(spec, document, label=label)
        return self.deliver(spec, delivery, label=label)

    def invoke(self, spec: FunctionSpec, event: Any, *, label: str) -> ReplayResult:
        """A Lambda's event goes to its handler with a Lambda context, as the runtime calls it. An
        exception is what the runtime would see too: the invocation fails and is retried."""
        from tooling.local_lambda import invoke

        failed = None
        with _outcome_lines() as capture:
            try:
                with contextlib.redirect_stdout(self._lambda_stdout or sys.stderr):
                    invoke(spec, event)
            except Exception as exc:
                failed = exc
        return lambda_result(label, spec.name, capture.fields, f"{type(failed).__name__}: {failed}")

    def deliver(self, spec: FunctionSpec, delivery: HttpDelivery, *, label: str) -> ReplayResult:
        with _outcome_lines() as capture:
            response = self._client(spec).post("/", headers=delivery.headers, data=delivery.body)
        return http_result(label, spec.name, capture.fields, response.status_code, response.get_data(as_text=True))


def _logged(label: str, function: str, line: dict[str, Any], status: int | None = None) -> ReplayResult:
    """The result a function's own outcome line reports."""
    return ReplayResult(label, function, str(line.get("outcome")), str(line.get("detail")), status)


def lambda_result(label: str, function: str, outcome_lines: list[dict[str, Any]], failure: str) -> ReplayResult:
    """What one Lambda invocation did: the handler's own outcome line, else `failure` (what it raised)."""
    if outcome_lines:
        return _logged(label, function, outcome_lines[-1])
    return ReplayResult(label, function, "error", failure)


def http_result(label: str, function: str, outcome_lines: list[dict[str, Any]], status: int, text: str) -> ReplayResult:
    """What one HTTP delivery did: the function's own outcome line if it logged one, else what the
    answer says (functions-framework's 400 for a body that is no event, or a failure)."""
    if outcome_lines:
        return _logged(label, function, outcome_lines[-1], status)
    if status == 400:
        return ReplayResult(label, function, "rejected", _framework_rejection(text), status)
    return ReplayResult(label, function, "error", f"HTTP {status}: {text.strip()[:300]}", status)


def result_from_answer(
    label: str, function: str | None, status: int, headers: Mapping[str, str], body: str
) -> ReplayResult:
    """What a served function's answer says happened. A Lambda Invoke API signals a handler error with
    `X-Amz-Function-Error`; a JSON `{"outcome", "detail"}` (a Lambda's return value, an HTTP function's
    answer) is the function's own word; a CloudEvent function's 2xx only says it was delivered (its
    outcome is in its log), functions-framework's 400 says the body was no event, anything else failed."""
    lowered = {k.lower(): v for k, v in headers.items()}
    answer = _json_object(body)
    if "x-amz-function-error" in lowered:
        reason = f"{answer.get('errorType', lowered['x-amz-function-error'])}: {answer.get('errorMessage', body[:300])}"
        return ReplayResult(label, function, "error", f"the handler failed: {reason}", status)
    if "outcome" in answer:
        return ReplayResult(label, function, str(answer["outcome"]), str(answer.get("detail", "")), status)
    if 200 <= status < 300:
        detail = f"HTTP {status}; the outcome is in the function's own log"
        return ReplayResult(label, function, "delivered", detail, status)
    if status == 400:
        return ReplayResult(label, function, "rejected", _framework_rejection(body), status)
    return ReplayResult(label, function, "error", f"HTTP {status}: {body.strip()[:300]}", status)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def replay_to_url(path: Path, url: str, function: str | None = None, *, timeout_s: float = 60.0) -> ReplayResult:
    """Send a saved event to a function already served at `url`, as its platform would: a Lambda Invoke
    API URL gets the raw event, any other URL the CloudEvent (or HTTP) request the fixture describes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ReplayResult(str(path), function, "error", f"cannot read {path}: {exc.strerror or exc}")
    return replay_bytes_to_url(data, url, function, label=str(path), path=path, timeout_s=timeout_s)


def replay_bytes_to_url(
    data: bytes, url: str, function: str | None, *, label: str, path: Path | None = None, timeout_s: float = 60.0
) -> ReplayResult:
    lambda_name = lambda_function_in(url)
    try:
        document = event_from_bytes(data, label)
        delivery = lambda_invocation(document) if lambda_name else delivery_from_document(document)
    except EventParseError as exc:  # nothing sent: what the function would have answered
        return ReplayResult(label, function or lambda_name, "rejected", str(exc))
    function = function or lambda_name or _owner(path, document)
    try:
        answer = exchange(url, delivery, timeout_s=timeout_s)
    except OSError as exc:
        detail = f"nothing answered at {url}: {getattr(exc, 'reason', exc)}; is the function running there?"
        return ReplayResult(label, function, "error", detail)
    return result_from_answer(label, function, answer.status, answer.headers, answer.body)


def _owner(path: Path | None, document: Any) -> str | None:
    """The manifest's function for the event, only to label the result: the URL decides where it goes."""
    try:
        return function_for(path, document).name
    except MlopsEventsError:
        return None
