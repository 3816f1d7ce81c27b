"""The request body, read whole before the app sees it: within a size and a time limit.

A body over `limit` bytes is answered 413 and one that has not arrived whole `timeout_s` after the headers
(checked every second) 408, both with `Connection: close`, whether it came with a Content-Length or
chunked (the app never sees either: FastAPI took the middle of a chunked body cut by an exception for a
parse error, 400). A body past
the limit is still read and thrown away, up to `discard` more bytes within the same time, so that a client
that writes its whole request before it reads gets the 413 instead of a reset connection; a declared
Content-Length past that, or a client waiting on `Expect: 100-continue`, gets it at once. The memory held
is at most `limit` bytes per request. Every ASGI server this app runs on (uvicorn, mangum) goes through it;
the headers' own time limit is the server's (mlops_inference.server).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

DISCARD_BYTES = 16 * 1024 * 1024


class RequestBody:
    def __init__(
        self,
        app: Any,
        limit: int,
        timeout_s: float,
        discard: int = DISCARD_BYTES,
        limit_for: Callable[[dict, dict[bytes, bytes]], int] | None = None,
    ) -> None:
        """`limit_for(scope, headers)`, where given, says the limit of each request (uploads take more)."""
        self.app, self.limit, self.timeout_s, self.discard = app, limit, timeout_s, discard
        self._limit_for = limit_for
        # The time limit: one sweep every `_every_s` over the requests reading their body, not a timer per
        # request (asyncio.timeout cost 20 us a request, 2-4% of a small prediction's CPU).
        self._every_s = min(1.0, timeout_s / 10)
        self._reading: dict[asyncio.Task, float] = {}  # request task -> deadline, while it reads its body
        self._expired: set[asyncio.Task] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self._sweep_loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit = self.limit if self._limit_for is None else self._limit_for(scope, headers)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            waiting = headers.get(b"expect", b"").lower() == b"100-continue"
            if waiting or int(declared) > limit + self.discard:
                await self._refuse(send, 413, limit)
                return
        chunks: list[bytes] = []
        seen = 0
        task = asyncio.current_task()
        assert task is not None  # an ASGI app runs in a task
        loop = asyncio.get_running_loop()
        self._reading[task] = loop.time() + self.timeout_s
        if self._sweep is None or self._sweep_loop is not loop:  # mangum may run each event on a new loop
            self._sweep, self._sweep_loop = loop.call_later(self._every_s, self._expire, loop), loop
        try:
            while True:
                message = await receive()  # the only suspension while registered: a cancel lands here
                if message["type"] == "http.disconnect":
                    return  # the client left: nobody to answer
                body = message.get("body", b"")
                seen += len(body)
                if seen <= limit:
                    chunks.append(body)
                elif chunks:
                    chunks = []  # over the limit: what came is dropped, the rest only counted
                if not message.get("more_body", False) or seen > limit + self.discard:
                    break
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            task.uncancel()
            await self._refuse(send, 413 if seen > limit else 408, limit)
            return
        finally:
            del self._reading[task]
            self._expired.discard(task)
        if seen > limit:
            await self._refuse(send, 413, limit)
            return
        await self.app(scope, _Replay(b"".join(chunks), receive), send)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, deadline in self._reading.items():
            if deadline <= now and task not in self._expired and task.get_loop() is loop:
                self._expired.add(task)
                task.cancel()
        self._sweep = loop.call_later(self._every_s, self._expire, loop) if self._reading else None

    async def _refuse(self, send: Any, status: int, limit: int) -> None:
        if status == 413:
            detail = f"request body over {limit} bytes"
        else:
            detail = f"request body not received whole within {self.timeout_s:g} s"
        body = json.dumps({"detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _Replay:
    """The app's `receive`: the body, whole, then the server's own (its http.disconnect, when it comes)."""

    __slots__ = ("body", "receive")

    def __init__(self, body: bytes, receive: Any) -> None:
        self.body: bytes | None = body
        self.receive = receive

    async def __call__(self) -> dict:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        return await self.receive()
