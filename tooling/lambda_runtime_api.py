"""A local stand-in for the Lambda Runtime API, so a Lambda bundle runs under AWS's own runtime client.

Lambda's managed Python runtime is `awslambdaric` (the runtime interface client) polling the Runtime API
of its sandbox: GET `/2018-06-01/runtime/invocation/next` hands it the next event, and it posts the
handler's result to `.../invocation/{id}/response`, its exception to `.../invocation/{id}/error`, a
failed import to `/runtime/init/error`. This server speaks that protocol on loopback: `invoke()` queues
an event and waits for what the runtime posts back. Start `python -m awslambdaric main.handler` with
`AWS_LAMBDA_RUNTIME_API=<host:port>` and the bundle as its task root, and the handler runs as in Lambda.

The deadline is sent, so `get_remaining_time_in_millis()` counts down as in Lambda. The sandbox around the
runtime (killing an invocation at its deadline, the memory limit, a new environment after a crash) is the
caller's: `invoke(watch=...)` lets it check the runtime process while it waits, and an invocation it gave up
on is dropped (never handed to a runtime later, its late answer ignored). One server serves one runtime
process: a runtime killed while it long-polls `next` leaves a request that would swallow the next event, so
a new environment gets a new server (tooling/localcloud/lambda_sandbox.py does that).

Not emulated: the sandbox's freeze between invocations.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tooling.local_server import write_answer

# The runtime interface client Lambda's python3.11 runtime runs: a wheel with its native HTTP client.
RUNTIME_INTERFACE_CLIENT = "awslambdaric==4.2.2"
_PREFIX = "/2018-06-01/runtime"


class InitError(RuntimeError):
    """The runtime could not import the handler (what Lambda reports as Runtime.ImportModuleError)."""


@dataclass(frozen=True)
class Invocation:
    request_id: str
    payload: Any = None  # the handler's return value, as JSON
    error: dict[str, Any] | None = None  # errorMessage, errorType, stackTrace: the handler raised

    @property
    def failed(self) -> bool:
        return self.error is not None


class LambdaRuntimeApi:
    """The Runtime API of one Lambda sandbox: one invocation at a time, as Lambda does."""

    def __init__(self, function_name: str, *, region: str = "us-east-1", account: str = "000000000000") -> None:
        self.function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self._events: queue.Queue[tuple[str, bytes, float]] = queue.Queue()
        self._done: dict[str, Invocation] = {}
        self._changed = threading.Condition()
        self.init_error: dict[str, Any] | None = None
        self.init_over = threading.Event()  # the runtime asked for its first event, or reported a failed init
        self._abandoned: set[str] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.address = "{}:{}".format(*self._server.server_address[:2])
        self._thread = threading.Thread(target=self._server.serve_forever, name="lambda-runtime-api", daemon=True)
        self._thread.start()

    def invoke(
        self,
        event: Any,
        *,
        timeout_s: float = 60.0,
        request_id: str | None = None,
        watch: Callable[[], None] | None = None,
        poll_s: float = 0.02,
    ) -> Invocation:
        """Queue `event` for the runtime and wait for its response (or error). TimeoutError if none comes
        within `timeout_s`; `watch()`, called every `poll_s` while waiting, may raise to give up sooner."""
        request_id = request_id or str(uuid.uuid4())
        deadline = time.time() + timeout_s
        self._events.put((request_id, json.dumps(event).encode(), deadline))
        try:
            with self._changed:
                while request_id not in self._done:
                    if self.init_error is not None:
                        raise InitError(self.init_error.get("errorMessage", str(self.init_error)))
                    left = deadline - time.time()
                    if left <= 0:
                        raise TimeoutError(f"no response from the Lambda runtime within {timeout_s} s")
                    self._changed.wait(timeout=min(left, poll_s) if watch else left)
                    if watch is not None and request_id not in self._done:
                        watch()
                return self._done.pop(request_id)
        except BaseException:
            with self._changed:
                self._abandoned.add(request_id)
                self._done.pop(request_id, None)
            raise

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LambdaRuntimeApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the runtime calls -----------------------------------------------------------------------
    def _next(self) -> tuple[str, bytes, float]:
        self.init_over.set()
        while True:
            request_id, body, deadline = self._events.get()
            with self._changed:
                if request_id not in self._abandoned:  # given up before a runtime took it
                    return request_id, body, deadline

    def _finish(self, invocation: Invocation) -> None:
        with self._changed:
            if invocation.request_id in self._abandoned:  # a late answer to an invocation given up on
                return
            self._done[invocation.request_id] = invocation
            self._changed.notify_all()

    def _failed_init(self, error: dict[str, Any]) -> None:
        with self._changed:
            self.init_error = error
            self.init_over.set()
            self._changed.notify_all()


def _handler_for(api: LambdaRuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # the runtime polls: no access log
            pass

        def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            write_answer(self, status, body, headers)

        def _body(self) -> Any:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return raw.decode(errors="replace")

        def do_GET(self) -> None:
            if self.path != f"{_PREFIX}/invocation/next":
                self._answer(404)
                return
            request_id, body, deadline = api._next()  # long poll, as the real API: blocks until an event
            self._answer(
                200,
                body,
                {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(deadline * 1000)),
                    "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                },
            )

        def do_POST(self) -> None:
            parts = self.path.removeprefix(_PREFIX).strip("/").split("/")
            body = self._body()
            if parts == ["init", "error"]:
                api._failed_init(body if isinstance(body, dict) else {"errorMessage": str(body)})
            elif len(parts) == 3 and parts[0] == "invocation" and parts[2] == "response":
                api._finish(Invocation(parts[1], payload=body))
            elif len(parts) == 3 and parts[0] == "invocation" and parts[2] == "error":
                error = body if isinstance(body, dict) else {"errorMessage": str(body)}
                api._finish(Invocation(parts[1], error=error))
            else:
                self._answer(404)
                return
            self._answer(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

    return Handler
