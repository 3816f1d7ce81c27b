"""Delivers trigger requests to the served functions and applies each trigger's retry policy.

Pub/Sub-fed triggers (push subscriptions, Eventarc's GCS events) are pulled from the emulator; a
failed delivery is not acknowledged but given an ack deadline equal to the backoff, so the emulator
itself redelivers it, as Pub/Sub does; after the last attempt the message goes to the dead-letter
topic (or is dropped where the manifest has none). Directly invoked triggers (a Cloud Scheduler HTTP
job, EventBridge to the Lambda) retry in a worker thread. Every attempt is one `Attempt` record.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.localcloud.outcomes import OutcomeLog
from shared.localcloud.retry import RetryPolicy
from shared.localcloud.triggers import Message, Request
from shared.log import get_logger

_log = get_logger("localcloud")
PUSH_ACK_STATUSES = {102, 200, 201, 202, 204}  # what a push subscription counts as acknowledged
LAMBDA_INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt, or one thing a trigger did: a line of the console and of events.jsonl."""

    source: str  # gcs | pubsub | scheduler | ecr | slack | up
    function: str
    subject: str
    outcome: str  # applied | duplicate | ignored | rejected | delivered | error | unreachable | fired | ...
    detail: str = ""
    event_id: str = ""
    attempt: int = 0
    latency_ms: float | None = None
    http_status: int | None = None
    next_retry_s: float | None = None  # set when it will be delivered again
    time: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


@dataclass(frozen=True)
class Answer:
    ok: bool
    outcome: str
    detail: str
    http_status: int | None
    latency_ms: float


class Journal:
    """Appends every Attempt to <state>/events.jsonl and hands it to the console."""

    def __init__(self, path: Path, show: Callable[[Attempt], None]) -> None:
        self._path = path
        self._show = show
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, attempt: Attempt) -> None:
        stamped = Attempt(**{**asdict(attempt), "time": datetime.now(UTC).isoformat(timespec="milliseconds")})
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(stamped.as_dict()) + "\n")
        try:
            self._show(stamped)
        except Exception:  # the console must never stop a delivery
            _log.exception("console failed")


class Target:
    """A served function: where its trigger posts, and how to read what it did."""

    def __init__(self, name: str, url: str, log: OutcomeLog, *, platform: str, timeout_s: float) -> None:
        self.name, self.url, self.platform = name, url, platform
        self._log = log
        self._timeout_s = timeout_s

    def send(self, request: Request, *, acked: Callable[[int], bool]) -> Answer:
        started = time.perf_counter()
        http = urllib.request.Request(self.url + request.path, data=request.body, headers=request.headers)
        headers: dict[str, str] = {}
        try:
            with urllib.request.urlopen(http, timeout=self._timeout_s) as response:
                status, text, headers = (
                    response.status,
                    response.read().decode(errors="replace"),
                    {k.lower(): v for k, v in response.headers.items()},  # header names are case-insensitive
                )
        except urllib.error.HTTPError as answer:
            status, text = answer.code, answer.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            latency = _ms(started)
            return Answer(False, "unreachable", f"{self.name} is not answering ({reason})", None, latency)
        latency = _ms(started)
        failed = "x-amz-function-error" in headers or not acked(status)
        outcome, detail = self._read(request.event_id, status, text)
        if failed and outcome in ("delivered", "applied"):
            outcome = "error"
        return Answer(not failed, outcome, detail, status, latency)

    def _read(self, event_id: str, status: int, text: str) -> tuple[str, str]:
        """The function's own outcome line; else the JSON answer (HTTP function, Lambda); else the status."""
        line = self._log.outcome_for(event_id)
        if line:
            return str(line.get("outcome")), str(line.get("detail", ""))
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and "outcome" in body:
            return str(body["outcome"]), str(body.get("detail", ""))
        if isinstance(body, dict) and "errorMessage" in body:
            return "error", f"{body.get('errorType', 'Error')}: {body['errorMessage']}"
        if 200 <= status < 300:
            return "delivered", f"HTTP {status}"
        return "error", f"HTTP {status}: {text.strip()[:200]}"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _pubsub_acked(status: int) -> bool:
    return status in PUSH_ACK_STATUSES


def _http_ok(status: int) -> bool:
    return 200 <= status < 300


class PubsubRoute:
    """One subscription feeding one function (a push subscription, or an Eventarc trigger's)."""

    def __init__(
        self,
        *,
        subscriber: Any,
        subscription: str,
        target: Target,
        policy: RetryPolicy,
        source: str,
        convert: Callable[[Message], Request | None],
        journal: Journal,
        dead_letter: Callable[[Message, int], str] | None,
        drop_note: str = "",
    ) -> None:
        self.subscription = subscription
        self._subscriber, self._target, self._policy = subscriber, target, policy
        self._source, self._convert, self._journal = source, convert, journal
        self._dead_letter, self._drop_note = dead_letter, drop_note
        self._attempts: dict[str, tuple[int, float]] = {}  # message id -> (deliveries so far, first seen)
        self._lock = threading.Lock()

    def poll(self, executor: ThreadPoolExecutor, stopping: threading.Event) -> None:
        from google.api_core.exceptions import DeadlineExceeded, GoogleAPICallError

        while not stopping.is_set():
            try:
                response = self._subscriber.pull(subscription=self.subscription, max_messages=10, timeout=2.0)
            except DeadlineExceeded:
                continue
            except GoogleAPICallError as exc:
                if stopping.is_set():
                    return
                _log.warning("pull from %s failed: %s", self.subscription, exc)
                stopping.wait(1.0)
                continue
            if not response.received_messages:
                stopping.wait(0.05)
            for received in response.received_messages:
                executor.submit(self._deliver, received)

    def _deliver(self, received: Any) -> None:
        pulled = received.message
        message = Message(
            message_id=pulled.message_id,
            data=bytes(pulled.data),
            attributes=dict(pulled.attributes),
            publish_time=pulled.publish_time,
        )
        request = self._convert(message)
        if request is None:  # not this trigger's event (another bucket, another type): filtered, as Eventarc does
            self._ack(received.ack_id)
            return
        with self._lock:
            count, first = self._attempts.get(message.message_id, (0, time.monotonic()))
            count += 1
            self._attempts[message.message_id] = (count, first)
        answer = self._target.send(request, acked=_pubsub_acked)
        common = dict(
            source=self._source,
            function=self._target.name,
            subject=request.subject,
            event_id=request.event_id,
            attempt=count,
            latency_ms=answer.latency_ms,
            http_status=answer.http_status,
        )
        if answer.ok:
            self._ack(received.ack_id)
            self._forget(message.message_id)
            self._journal.record(Attempt(outcome=answer.outcome, detail=answer.detail, **common))
            return
        if self._policy.gives_up(count, time.monotonic() - first):
            where = self._dead_letter(message, count) if self._dead_letter else ""
            self._ack(received.ack_id)
            self._forget(message.message_id)
            self._journal.record(Attempt(outcome=answer.outcome, detail=answer.detail, **common))
            gone = f"dead-lettered to {where}" if where else f"dropped after {count} attempts. {self._drop_note}"
            self._journal.record(
                Attempt(outcome="dead-lettered" if where else "dropped", detail=gone.strip(), **common)
            )
            return
        backoff = self._policy.backoff_s(count)
        # Not acknowledged: the emulator redelivers once this deadline passes, as Pub/Sub applies a backoff.
        self._subscriber.modify_ack_deadline(
            subscription=self.subscription, ack_ids=[received.ack_id], ack_deadline_seconds=math.ceil(backoff)
        )
        self._journal.record(
            Attempt(outcome=answer.outcome, detail=answer.detail, next_retry_s=math.ceil(backoff), **common)
        )

    def _ack(self, ack_id: str) -> None:
        self._subscriber.acknowledge(subscription=self.subscription, ack_ids=[ack_id])

    def _forget(self, message_id: str) -> None:
        with self._lock:
            self._attempts.pop(message_id, None)


def deliver_with_retries(
    target: Target,
    request: Request,
    *,
    policy: RetryPolicy,
    source: str,
    journal: Journal,
    stopping: threading.Event,
    on_give_up: Callable[[Answer, int], str] | None = None,
) -> Answer:
    """A direct invocation (Cloud Scheduler HTTP, Lambda async): retried here with the policy's backoff."""
    first = time.monotonic()
    acked = _http_ok
    attempt = 0
    while True:
        attempt += 1
        answer = target.send(request, acked=acked)
        common = dict(
            source=source,
            function=target.name,
            subject=request.subject,
            event_id=request.event_id,
            attempt=attempt,
            latency_ms=answer.latency_ms,
            http_status=answer.http_status,
        )
        if answer.ok:
            journal.record(Attempt(outcome=answer.outcome, detail=answer.detail, **common))
            return answer
        if policy.gives_up(attempt, time.monotonic() - first) or stopping.is_set():
            journal.record(Attempt(outcome=answer.outcome, detail=answer.detail, **common))
            where = on_give_up(answer, attempt) if on_give_up else ""
            gone = f"sent to {where}" if where else f"given up after {attempt} attempts"
            journal.record(Attempt(outcome="dead-lettered" if where else "dropped", detail=gone, **common))
            return answer
        backoff = policy.backoff_s(attempt)
        journal.record(Attempt(outcome=answer.outcome, detail=answer.detail, next_retry_s=round(backoff, 2), **common))
        if stopping.wait(backoff):
            return answer
