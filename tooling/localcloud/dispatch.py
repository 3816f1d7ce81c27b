"""Delivers trigger requests to the served functions and applies each trigger's retry policy.

Pub/Sub-fed triggers (push subscriptions, Eventarc's GCS events) are pulled from the emulator; a
failed delivery is not acknowledged but given an ack deadline equal to the backoff, so the emulator
itself redelivers it, as Pub/Sub does; after the last attempt the message goes to the dead-letter
topic (or is dropped where the manifest has none). Each route pulls only as many messages as it has
workers free, so a message never waits in a queue while its ack deadline runs out. Directly invoked
triggers (a Cloud Scheduler HTTP job, EventBridge to the Lambda) retry in a worker of their own.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tooling.delivery import HttpDelivery, exchange
from tooling.localcloud.activity_log import ActivityLog, Attempt
from tooling.localcloud.outcome_log import OutcomeLog
from tooling.localcloud.retry import RetryPolicy
from tooling.localcloud.triggers import Message, Request

PUSH_ACK_STATUSES = {102, 200, 201, 202, 204}  # what a push subscription counts as acknowledged
_RPC = {"retry": None, "timeout": 10.0}  # ack calls fail fast: the gapic default retries for 60 s


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    outcome: str
    detail: str
    http_status: int | None
    latency_ms: float
    error_payload: dict[str, Any] | None = None  # a Lambda's {errorMessage, errorType, stackTrace}
    request_id: str = ""  # a Lambda's invocation id (x-amz-request-id)


def pubsub_acked(status: int) -> bool:
    return status in PUSH_ACK_STATUSES


def http_ok(status: int) -> bool:
    return 200 <= status < 300


class Target:
    """A served function: where its trigger posts, and how to read what it did."""

    def __init__(self, name: str, url: str, log: OutcomeLog, *, timeout_s: float) -> None:
        self.name, self.url = name, url
        self._log = log
        self._timeout_s = timeout_s

    def send(self, request: Request, *, acked: Callable[[int], bool] = http_ok) -> DeliveryResult:
        started = time.perf_counter()
        delivery = HttpDelivery(request.headers, request.body, "local", request.event_type)
        try:
            answer = exchange(self.url + request.path, delivery, timeout_s=self._timeout_s)
        except (OSError, http.client.HTTPException) as exc:  # nothing listening, or it died mid-answer
            reason = getattr(exc, "reason", exc)
            return DeliveryResult(False, "unreachable", f"{self.name} is not answering ({reason})", None, _ms(started))
        latency = _ms(started)
        body = _json(answer.body)
        function_error = "x-amz-function-error" in answer.headers
        failed = function_error or not acked(answer.status)
        outcome, detail = self._read(request.event_id, answer.status, answer.body, body)
        if failed and outcome in ("delivered", "applied"):
            outcome = "error"
        return DeliveryResult(
            not failed,
            outcome,
            detail,
            answer.status,
            latency,
            error_payload=body if function_error and isinstance(body, dict) else None,
            request_id=answer.headers.get("x-amz-request-id", ""),
        )

    def _read(self, event_id: str, status: int, text: str, body: Any) -> tuple[str, str]:
        """The function's own outcome line; else the JSON answer (HTTP function, Lambda); else the status."""
        line = self._log.outcome_for(event_id) if event_id else None
        if line:
            return str(line.get("outcome")), str(line.get("detail", ""))
        if isinstance(body, dict) and "outcome" in body:
            return str(body["outcome"]), str(body.get("detail", ""))
        if isinstance(body, dict) and "errorMessage" in body:
            return "error", f"{body.get('errorType', 'Error')}: {body['errorMessage']}"
        if 200 <= status < 300:
            return "delivered", f"HTTP {status}"
        return "error", f"HTTP {status}: {text.strip()[:200]}"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _record(activity: ActivityLog, source: str, target: Target, request: Request, attempt: int, result: DeliveryResult,
            **extra: Any) -> None:  # fmt: skip
    activity.record(
        Attempt(
            source=source,
            function=target.name,
            subject=request.subject,
            event_id=request.event_id,
            attempt=attempt,
            latency_ms=result.latency_ms,
            http_status=result.http_status,
            **{"outcome": result.outcome, "detail": result.detail, **extra},
        )
    )


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
        convert: Callable[[Message, int], Request | None],
        activity: ActivityLog,
        dead_letter: Callable[[Message, int], str] | None,
        drop_note: str = "",
        workers: int = 4,
    ) -> None:
        """`convert(message, delivery attempt)` gives the request, or None for a message the trigger filters out."""
        self.subscription = subscription
        self._subscriber, self._target, self._policy = subscriber, target, policy
        self._source, self._convert, self._activity = source, convert, activity
        self._dead_letter, self._drop_note = dead_letter, drop_note
        self._attempts: dict[str, tuple[int, float]] = {}  # message id -> (deliveries so far, first seen)
        self._lock = threading.Lock()
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"deliver-{target.name}")
        self._free = threading.Semaphore(workers)
        self._size = workers
        self._stopping = threading.Event()  # replaced by poll()'s

    def poll(self, stopping: threading.Event) -> None:
        """Pull as many messages as there are free workers, hand each to one; until `stopping`. A delivery
        that fails once `stopping` is set is left to the emulator (no backoff, no dead letter): the
        failure may only be `up` stopping the function."""
        from google.api_core.exceptions import DeadlineExceeded

        self._stopping = stopping
        while not stopping.is_set():
            if not self._free.acquire(timeout=0.5):
                continue
            slots = 1
            while slots < self._size and self._free.acquire(blocking=False):
                slots += 1
            received: list[Any] = []
            try:
                response = self._subscriber.pull(subscription=self.subscription, max_messages=slots, timeout=2.0)
                received = list(response.received_messages)
            except DeadlineExceeded:
                pass
            except Exception as exc:  # the emulator gone or failing: say so, and keep polling
                if not stopping.is_set():
                    self._activity.failure(self._source, self._target.name, f"pull {self.subscription}", exc)
                    stopping.wait(1.0)
            if stopping.is_set():
                received = []  # not acknowledged: the emulator keeps them
            for _ in range(slots - len(received)):
                self._free.release()
            if not received:
                stopping.wait(0.05)
            for message in received:
                try:
                    future = self._workers.submit(self._deliver_guarded, message)
                except RuntimeError:  # shut down meanwhile
                    self._free.release()
                    continue
                future.add_done_callback(lambda _: self._free.release())  # also when cancelled

    def stop(self, timeout_s: float = 10.0) -> None:
        """Wait for the deliveries in flight (each bounded by its target's timeout), up to `timeout_s`."""
        self._workers.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout_s
        for _ in range(self._size):
            if not self._free.acquire(timeout=max(deadline - time.monotonic(), 0)):
                return

    def _deliver_guarded(self, received: Any) -> None:
        try:
            self._deliver(received)
        except Exception as exc:  # the message stays unacknowledged: the emulator redelivers it
            self._activity.failure(self._source, self._target.name, f"message {received.message.message_id}", exc)

    def _deliver(self, received: Any) -> None:
        pulled = received.message
        message = Message(pulled.message_id, bytes(pulled.data), dict(pulled.attributes), pulled.publish_time)
        with self._lock:
            count, first = self._attempts.get(message.message_id, (0, time.monotonic()))
            count += 1
            self._attempts[message.message_id] = (count, first)
        request = self._convert(message, count)
        if request is None:  # not this trigger's event (another bucket, another type): filtered, as Eventarc does
            self._ack(received.ack_id, message.message_id)
            return
        result = self._target.send(request, acked=pubsub_acked)
        if not result.ok and self._stopping.is_set():
            _record(self._activity, self._source, self._target, request, count, result)
            return  # left unacknowledged for the emulator: stopping `up` dead-letters nothing
        if result.ok:
            self._ack(received.ack_id, message.message_id)
            _record(self._activity, self._source, self._target, request, count, result)
            return
        if self._policy.gives_up(count, time.monotonic() - first):
            where = self._dead_letter(message, count) if self._dead_letter else ""
            self._ack(received.ack_id, message.message_id)
            _record(self._activity, self._source, self._target, request, count, result)
            gone = f"dead-lettered to {where}" if where else f"dropped after {count} attempts. {self._drop_note}"
            outcome = "dead-lettered" if where else "dropped"
            _record(self._activity, self._source, self._target, request, count, result, outcome=outcome,
                    detail=gone.strip())  # fmt: skip
            return
        backoff = math.ceil(self._policy.backoff_s(count))
        # Not acknowledged: the emulator redelivers once this deadline passes, as Pub/Sub applies a backoff.
        self._subscriber.modify_ack_deadline(
            subscription=self.subscription, ack_ids=[received.ack_id], ack_deadline_seconds=backoff, **_RPC
        )
        _record(self._activity, self._source, self._target, request, count, result, next_retry_s=backoff)

    def _ack(self, ack_id: str, message_id: str) -> None:
        self._subscriber.acknowledge(subscription=self.subscription, ack_ids=[ack_id], **_RPC)
        with self._lock:
            self._attempts.pop(message_id, None)


def deliver_with_retries(
    target: Target,
    request: Request,
    *,
    policy: RetryPolicy,
    source: str,
    activity: ActivityLog,
    stopping: threading.Event,
    on_give_up: Callable[[DeliveryResult, int, float], str] | None = None,
) -> DeliveryResult:
    """A direct invocation (Cloud Scheduler HTTP, Lambda async), retried here with the policy's backoff.
    `on_give_up(last result, attempts, age s)` sends it to the dead letter and says where. A stop of
    `up` ends the retries without dead-lettering: the failure may only be `up` stopping the function."""
    first = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        result = target.send(request)
        if result.ok:
            _record(activity, source, target, request, attempt, result)
            return result
        if stopping.is_set():
            _record(activity, source, target, request, attempt, result)
            return result
        age = time.monotonic() - first
        if policy.gives_up(attempt, age):
            _record(activity, source, target, request, attempt, result)
            where = on_give_up(result, attempt, age) if on_give_up else ""
            gone = f"sent to {where}" if where else f"given up after {attempt} attempts"
            _record(activity, source, target, request, attempt, result,
                    outcome="dead-lettered" if where else "dropped", detail=gone)  # fmt: skip
            return result
        backoff = policy.backoff_s(attempt)
        _record(activity, source, target, request, attempt, result, next_retry_s=round(backoff, 2))
        if stopping.wait(backoff):
            return result
