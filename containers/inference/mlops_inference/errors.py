"""Error answers that always serialise, and the JSON the service reads.

A 422 used to echo what the client sent: a NaN inside a field pydantic rejected went back into the body,
the encoder refused it, and the client got a 500. Here a value is echoed only when it is JSON for sure and
short: null, a bool, an int64, a finite float, or a string of at most ECHO_CHARS (lone surrogates and the
rest written out as escapes); anything else is left out. Field names from the client are cleaned the same
way, at most MAX_ERRORS are listed, and the body is encoded ASCII-only with allow_nan=False.

The request body is parsed with two changes to Python's json: an integer of more than 19 digits is read as
2**63 (past every bound here: no 400- or 5000-digit integer reaches int() or float()), and JSON nested
too deep or not UTF-8 is a JSON error (422), not an exception FastAPI answers 400.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from shared.errors import TransientError

log = logging.getLogger(__name__)
RETRY_AFTER_S = 10  # a backend's outage: longer than a queue's (1 s), as the capture lookup's
ECHO_CHARS = 100
MSG_CHARS = 300  # pydantic's and ours: no value of the client's inside
MAX_ERRORS = 50
_INT64 = 2**63


class SafeJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


def text(value: str, limit: int = ECHO_CHARS) -> str:
    value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value if len(value) <= limit else f"{value[:limit]}... ({len(value)} characters)"


def _echoable(value: Any) -> bool:
    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    return isinstance(value, float) and math.isfinite(value)


def _echo(value: Any) -> Any:
    return text(value) if isinstance(value, str) else value


def clean_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for error in errors[:MAX_ERRORS]:
        item: dict[str, Any] = {
            "loc": [part if isinstance(part, int) and _echoable(part) else text(str(part)) for part in error["loc"]],
            "msg": text(str(error.get("msg", "")), limit=MSG_CHARS),
            "type": text(str(error.get("type", "value_error"))),
        }
        if "input" in error and _echoable(error["input"]):
            item["input"] = _echo(error["input"])
        if error.get("ctx"):
            item["ctx"] = {
                text(str(k)): _echo(v) if _echoable(v) else text(str(v)) for k, v in dict(error["ctx"]).items()
            }
        out.append(item)
    if len(errors) > MAX_ERRORS:
        more = f"and {len(errors) - MAX_ERRORS} more errors"
        out.append({"loc": ["body"], "msg": more, "type": "too_many_errors"})
    return out


def finite(value: Any) -> Any:
    """`value` with every non-finite float made null (a model.json's training metrics may hold NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def invalid(errors: Sequence[Mapping[str, Any]]) -> SafeJSONResponse:
    return SafeJSONResponse({"detail": clean_errors(errors)}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_failed(request: Request, exc: RequestValidationError) -> SafeJSONResponse:
        return invalid(exc.errors())

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> SafeJSONResponse:
        return SafeJSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(TransientError)
    async def backend_unavailable(request: Request, exc: TransientError) -> SafeJSONResponse:
        """A backend that is down (the feedback store, say) wherever an endpoint meets it: 503 and when to
        retry, as a lookup that fails answers, not a bare 500. The backend's words stay in the log."""
        log.warning("%s %s: a backend is unavailable: %s", request.method, request.url.path, exc)
        detail = "a backend the service needs is unavailable now; retry after Retry-After seconds"
        return SafeJSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> SafeJSONResponse:
        """Any other failure: still a JSON body with a `detail` (Starlette's own is plain text); logged
        with its traceback by the server."""
        return SafeJSONResponse({"detail": "internal error"}, status_code=500)


def _bounded_int(digits: str) -> int:
    if len(digits) - digits.startswith("-") > 19:
        return -_INT64 if digits.startswith("-") else _INT64
    return int(digits)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_int=_bounded_int)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
    except ValueError as exc:  # not UTF-8 (UnicodeDecodeError), or what else json refuses
        raise json.JSONDecodeError(f"unreadable: {type(exc).__name__}", "", 0) from None


class _Request(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """Routes whose JSON body is read by `parse_json`."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def handle(request: Request):
            return await handler(_Request(request.scope, request.receive))

        return handle
