"""The request body, read whole before the app sees it: within a size and a time limit.

A body over `limit` bytes is answered 413 and one that has not arrived whole `timeout_s` after the headers
408, both with `Connection: close`, whether it came with a Content-Length or chunked (the app never sees
either: FastAPI took the middle of a chunked body cut by an exception for a parse error, 400). A body past
the limit is still read and thrown away, up to `discard` more bytes within the same time, so that a client
that writes its whole request before it reads gets the 413 instead of a reset connection; a declared
Content-Length past that, or a client waiting on `Expect: 100-continue`, gets it at once. The memory held
is at most `limit` bytes per request. Every ASGI server this app runs on (uvicorn, mangum) goes through it;
the headers' own time limit is the server's (mlops_inference.server).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

DISCARD_BYTES = 16 * 1024 * 1024


class RequestBody:
    def __init__(self, app: Any, limit: int, timeout_s: float, discard: int = DISCARD_BYTES) -> None:
        self.app, self.limit, self.timeout_s, self.discard = app, limit, timeout_s, discard

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            waiting = headers.get(b"expect", b"").lower() == b"100-continue"
            if waiting or int(declared) > self.limit + self.discard:
                await self._refuse(send, 413)
                return
        loop = asyncio.get_running_loop()
        chunks: list[bytes] = []
        seen = 0
        try:
            async with asyncio.timeout_at(loop.time() + self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client left: nobody to answer
                    body = message.get("body", b"")
                    seen += len(body)
                    if seen <= self.limit:
                        chunks.append(body)
                    elif chunks:
                        chunks = []  # over the limit: what came is dropped, the rest only counted
                    if not message.get("more_body", False):
                        break
                    if seen > self.limit + self.discard:
                        break
        except TimeoutError:
            await self._refuse(send, 413 if seen > self.limit else 408)
            return
        if seen > self.limit:
            await self._refuse(send, 413)
            return
        whole = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()  # after the body: the server's http.disconnect, when it comes

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any, status: int) -> None:
        if status == 413:
            detail = f"request body over {self.limit} bytes"
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
