"""The service's log lines in Cloud Logging's shape: JSON, one line per record, with `severity`, `message`,
the request's id and its trace (`logging.googleapis.com/trace`), whatever logger wrote them: ours, uvicorn's
errors and, with `--access-log`, its access lines.

uvicorn's default logging config printed warnings as plain text and dropped the service's INFO lines
("serving X vN"). `LOG_CONFIG` routes every logger through shared.log's JSON formatter (secrets redacted
as in the functions), and `TracedRequests` reads each request's trace headers (`traceparent`,
`X-Cloud-Trace-Context`) and `X-Request-Id` (a fresh id when absent or not a plain token) into the
context the formatter reads, and answers the id back in `X-Request-Id`.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.trace_context import from_headers, request_id_from, tracing


def log_config(level: str = "info") -> dict[str, Any]:
    """A logging.config dict for uvicorn: every line JSON on stdout (Cloud Run and k3s collect stdout)."""
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "shared.log.JsonFormatter"}},
        "handlers": {"stdout": handler},
        "loggers": {
            name: {"handlers": ["stdout"], "level": level, "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "mlops_inference", "mlops_events")
        },
    }


class TracedRequests:
    """ASGI middleware: the request's trace and id in the logging context while it is served."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers") or []:
            name = raw_name.decode("latin-1").lower()
            headers.setdefault(name, raw_value.decode("latin-1"))
        request_id = request_id_from(headers.get("x-request-id")) or uuid.uuid4().hex

        async def send_with_id(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        with tracing(from_headers(lambda name: headers.get(name.lower())), request_id=request_id):
            await self.app(scope, receive, send_with_id)
