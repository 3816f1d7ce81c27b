"""Deliver one event many times at once, as an at-least-once platform may."""

from __future__ import annotations

import threading

from functions_framework import create_app

from tooling.delivery import HttpDelivery
from tooling.manifest import FunctionSpec


def deliver_concurrently(spec: FunctionSpec, delivery: HttpDelivery, times: int) -> list[int]:
    """POST `delivery` `times` times through the function's real app, all released together; HTTP statuses."""
    app = create_app(spec.entry_point, str(spec.source_path), spec.signature)
    barrier = threading.Barrier(times)
    statuses: list[int] = []
    lock = threading.Lock()

    def deliver() -> None:
        client = app.test_client()
        barrier.wait()
        status = client.post("/", headers=delivery.headers, data=delivery.body).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=deliver) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses
