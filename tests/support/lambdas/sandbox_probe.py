"""A Lambda handler that misbehaves on request, for the sandbox tests: it sleeps, allocates, exits or raises
as its event says, and answers with its pid (which environment ran it) and the time it had left."""

from __future__ import annotations

import os
import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("sleep_s"):
        time.sleep(float(event["sleep_s"]))
    if event.get("allocate_mb"):
        held = b"\x01" * (int(event["allocate_mb"]) * 1024 * 1024)  # written: every page resident
        time.sleep(0.2)
        del held
    if "exit" in event:
        os._exit(int(event["exit"]))
    if event.get("raise"):
        raise ValueError(event["raise"])
    return {"pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis(), "echo": event.get("echo")}
