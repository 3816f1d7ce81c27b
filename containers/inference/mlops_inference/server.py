"""The service on uvicorn, with the time and size limits on request heads that uvicorn lacks.

`python -m mlops_inference.server [--host H] [--port P] [--log-level L] [--access-log]` (the container's
command; PORT from Cloud Run). Every log line is JSON with severity, request id and trace (mlops_inference.logs).
uvicorn closes a connection idle between requests after `timeout_keep_alive` (5 s) but waits forever for
a request head that is coming slowly, or for the first byte of a new connection: 300 such connections
were held 30 s and more. Here the request line and headers must arrive whole within
`INFERENCE_HEADER_TIMEOUT_S` (10 s) of their first byte, or of the connection's opening, and within
`MAX_HEAD_BYTES`; past either the client gets 408 or 431 and the connection is closed. The body's limits
are the app's (mlops_inference.request_body), so they hold on mangum too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging.config
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn

    from mlops_inference.settings import ServiceSettings

MAX_HEAD_BYTES = 16 * 1024  # h11's own default; httptools has none


def _refusal(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class _HeadLimits:
    """Mixed into uvicorn's HTTP protocol classes (h11 and httptools): a timer runs from the connection's
    opening, and from the first byte of each later request, until the protocol has parsed a whole head and
    started a request cycle (`self.cycle`)."""

    head_timeout_s: float = 10.0
    max_head_bytes: int = MAX_HEAD_BYTES
    transport: asyncio.Transport
    cycle: Any

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._arm()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        waiting = before is None or before.response_complete
        if waiting:
            self._arm()
            self._head_bytes += len(data)
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not before and not self.cycle.response_complete:
            self._disarm()  # a head arrived whole: the body's limits are the app's
        elif waiting and self._head_bytes > self.max_head_bytes:
            self._refuse(431, "Request Header Fields Too Large", f"request head over {self.max_head_bytes} bytes")

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a pipelined request started
        self._disarm()  # idle until the next byte: uvicorn's keep-alive timeout governs

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        if self._head_timer is None:
            loop = asyncio.get_running_loop()
            self._head_timer = loop.call_later(self.head_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._head_bytes = 0

    def _timed_out(self) -> None:
        self._head_timer = None
        self._refuse(408, "Request Timeout", f"request head not received whole within {self.head_timeout_s:g} s")

    def _refuse(self, status: int, reason: str, detail: str) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(_refusal(status, reason, detail))
            self.transport.close()


def protocol_class(http: str, head_timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's protocol class for `http` ("h11", "httptools", or "auto": httptools when installed) with
    the head limits mixed in."""
    if http == "auto":
        try:
            import httptools  # noqa: F401
        except ImportError:
            http = "h11"
        else:
            http = "httptools"
    base: type[asyncio.Protocol]
    if http == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    elif http == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    else:
        raise ValueError(f"http: h11, httptools or auto, not {http!r}")
    return type(f"Limited{base.__name__}", (_HeadLimits, base), {"head_timeout_s": head_timeout_s})


def __getattr__(name: str) -> Any:
    """`HeadLimitedProtocol`: the class for uvicorn's own CLI, `uvicorn mlops_inference.main:create --factory
    --http mlops_inference.server:HeadLimitedProtocol` (uvicorn's choice of parser, the head limits of
    INFERENCE_HEADER_TIMEOUT_S); built when first asked for, so importing this module reads no setting."""
    if name == "HeadLimitedProtocol":
        from mlops_inference.settings import ServiceSettings

        environ = {"MODEL_NAME": "-", "ENV": "dev", **os.environ}  # only the head timeout is read
        cls = protocol_class("auto", ServiceSettings.from_env(environ).header_timeout_s)
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def config(app: Any, settings: ServiceSettings, *, host: str, port: int, http: str = "auto", **kwargs: Any):
    """The uvicorn configuration the service runs with: one worker (the batcher works within a process)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_class(http, settings.header_timeout_s),
        h11_max_incomplete_event_size=4 * MAX_HEAD_BYTES,  # past it h11 refuses (400) before our 431 is due
        timeout_keep_alive=5,
        **kwargs,
    )


def server(app: Any, settings: ServiceSettings, **kwargs: Any) -> uvicorn.Server:
    import uvicorn

    return uvicorn.Server(config(app, settings, **kwargs))


def main(argv: list[str] | None = None) -> None:
    from mlops_inference.app import create_app
    from mlops_inference.logs import TracedRequests, log_config
    from mlops_inference.main import build_service, tune_gc
    from mlops_inference.settings import ServiceSettings

    parser = argparse.ArgumentParser(prog="python -m mlops_inference.server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")  # a container's port, published on purpose
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--http", choices=("auto", "h11", "httptools"), default="auto")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=False)
    args = parser.parse_args(argv)
    logging.config.dictConfig(log_config(args.log_level))  # before the service is built: its warnings too
    settings = ServiceSettings.from_env()
    tune_gc(settings)
    app = TracedRequests(create_app(build_service(settings)))
    options = {"access_log": args.access_log, "log_level": args.log_level, "log_config": log_config(args.log_level)}
    server(app, settings, host=args.host, port=args.port, http=args.http, **options).run()


if __name__ == "__main__":
    main()
