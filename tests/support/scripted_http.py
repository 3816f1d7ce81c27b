"""A real local HTTP server that answers from a script: for the REST clients' tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedServer:
    """Answers each request with the next (status, body, close[, headers]) of `script`, the last one forever;
    keeps every request's method, path, headers, body and client port (one per connection)."""

    def __init__(self) -> None:
        self.script: list[tuple[Any, ...]] = [(200, {}, False)]
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Google's front ends do

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                        "port": self.client_address[1],
                    }
                )
                status, answer, close, *extra = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                if close:
                    self.send_header("Connection", "close")
                for name, value in extra[0] if extra else []:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                if close:
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
