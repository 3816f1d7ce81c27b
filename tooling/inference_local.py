"""The service on uvicorn in a thread of this process, for the demo and the tests (`up` later)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serving(app: Any, *, ready_timeout_s: float = 60.0, http: str = "auto") -> Iterator[str]:
    """Yields the base URL once /readyz answers 200; stops the server on exit. The server is the container's
    (mlops_inference.server: its limits on request heads included)."""
    import httpx

    import mlops_inference.server as service_server
    from tooling.local_server import free_port

    port = free_port()
    settings = app.state.service.settings
    server = service_server.server(app, settings, host="127.0.0.1", port=port, http=http, log_level="warning")
    thread = threading.Thread(target=server.run, name=f"inference-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"the inference service on {url} did not become ready")
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
