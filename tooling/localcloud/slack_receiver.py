"""A local Slack incoming webhook: what the tests (and `mlops-events up`) post to instead of hooks.slack.com.

Answers like Slack does: 200 `ok` for an accepted payload, 404 `no_service` for an unknown webhook path,
400 `invalid_payload` / `no_text` for a bad body. Failures can be scripted ahead of the next requests.
No pytest here, so the CLI can start one too.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tooling.local_server import write_answer


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float = 0.0


@dataclass(frozen=True)
class _Scripted:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class SlackReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # A fresh token per receiver, so a test can look for it anywhere it must not appear.
        self.token = secrets.token_hex(12)
        self.path = f"/services/T000/B000/{self.token}"
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._posts: list[dict[str, Any]] = []
        self._requests: list[ReceivedRequest] = []
        self._script: deque[_Scripted] = deque()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        bound_host, bound_port = self._server.server_address[:2]
        self.host, self.port = str(bound_host), int(bound_port)  # an AF_INET address: (str, int)
        self.url = f"http://{self.host}:{self.port}{self.path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-receiver", daemon=True
        )
        self._thread.start()

    # scripting -----------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, body: str = "internal_error") -> None:
        self._queue(n, _Scripted(status, body))

    def rate_limit_next(self, n: int = 1, retry_after: int = 1) -> None:
        self._queue(n, _Scripted(429, "rate_limited", {"Retry-After": str(retry_after)}))

    def reject_next(self, status: int = 404, body: str = "no_service") -> None:
        self._queue(1, _Scripted(status, body))

    def _queue(self, n: int, response: _Scripted) -> None:
        with self._lock:
            self._script.extend([response] * n)

    # what was received ---------------------------------------------------------------------------

    @property
    def posts(self) -> list[dict[str, Any]]:
        """Payloads accepted with 200 `ok`, in arrival order."""
        with self._lock:
            return list(self._posts)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request, whatever it was answered."""
        with self._lock:
            return list(self._requests)

    def wait_for_posts(self, n: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        with self._changed:
            self._changed.wait_for(lambda: len(self._posts) >= n, timeout=timeout_s)
            return list(self._posts)

    def reset(self) -> None:
        with self._lock:
            self._posts.clear()
            self._requests.clear()
            self._script.clear()

    # lifecycle -----------------------------------------------------------------------------------

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SlackReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SlackReceiver(http://{self.host}:{self.port}/services/...)"

    # called by the request handler ---------------------------------------------------------------

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Scripted:
        with self._changed:
            response = self._script.popleft() if self._script else None
            if response is None:
                response = self._judge(method, path, body)
            self._requests.append(ReceivedRequest(method, path, headers, body, response.status, time.monotonic()))
            if response.status == 200:
                self._posts.append(json.loads(body))
            self._changed.notify_all()
        return response

    def _judge(self, method: str, path: str, body: bytes) -> _Scripted:
        if method != "POST" or path != self.path:
            return _Scripted(404, "no_service")
        try:
            payload = json.loads(body)
        except ValueError:
            return _Scripted(400, "invalid_payload")
        if not isinstance(payload, dict):
            return _Scripted(400, "invalid_payload")
        if not (payload.get("text") or payload.get("blocks") or payload.get("attachments")):
            return _Scripted(400, "no_text")
        return _Scripted(200, "ok")


def _handler_for(receiver: SlackReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            response = receiver._answer(self.command, self.path, dict(self.headers.items()), body)
            headers = {"Content-Type": "text/html", **response.headers}  # what hooks.slack.com answers with
            write_answer(self, response.status, response.body.encode(), headers)

        do_POST = _handle
        do_GET = _handle

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests read .requests instead
            pass

    return Handler
