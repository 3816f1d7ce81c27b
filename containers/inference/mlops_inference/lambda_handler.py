"""The service on AWS Lambda, through mangum (API Gateway HTTP API v2 and Function URL events).

mangum runs the ASGI lifespan on every invocation (mangum issue #342), which would load the model each
time: the lifespan is off, and the model is loaded here, once per container, at INIT. Batching is
off (a Lambda container serves one request at a time: there is nothing to batch) and so is the reload
thread (a frozen container would not run it): an invocation asks the registry for a newer version
when the last check is older than INFERENCE_RELOAD_S.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from mangum import Mangum

from mlops_inference.app import create_app
from mlops_inference.main import build_service, tune_gc
from mlops_inference.settings import ServiceSettings

_configured = ServiceSettings.from_env()
tune_gc(_configured)
service = build_service(dataclasses.replace(_configured, batching=False, reload_s=0))
asyncio.run(service.start())  # loads the model now; with batching off nothing is bound to this loop
app = create_app(service, manage_lifecycle=False)
_asgi = Mangum(app, lifespan="off")
_checked = time.monotonic()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _checked
    if time.monotonic() - _checked >= _configured.reload_s:
        _checked = time.monotonic()
        service.holder.refresh()
    return _asgi(event, context)
