"""`GET /metrics` (Prometheus, the feedback gauges refreshed from the store at most once a period) and
`GET /monitoring/drift` (the model's latest drift run)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response

from mlops_inference.errors import SafeJSONResponse, StrictJSONRoute, finite

if TYPE_CHECKING:
    from mlops_inference.service import Service

log = logging.getLogger(__name__)


def monitoring_router(service: Service) -> APIRouter:
    router = APIRouter(route_class=StrictJSONRoute)
    settings, metrics = service.settings, service.metrics

    feedback_refreshed = [-math.inf]  # when the feedback gauges last read the store (time.monotonic)
    feedback_refreshing = asyncio.Lock()

    async def refresh_feedback_gauges() -> None:
        """At most once per INFERENCE_FEEDBACK_METRICS_S, whatever the scrape rate; a scrape that comes while
        another refreshes, or when the store fails, serves the values already there."""
        store = service.feedback
        if store is None or feedback_refreshing.locked():
            return
        if time.monotonic() - feedback_refreshed[0] < settings.feedback_metrics_s:
            return
        async with feedback_refreshing:
            feedback_refreshed[0] = time.monotonic()  # a store that is down is asked again next period
            try:
                stats = await asyncio.to_thread(store.stats, settings.model_name, settings.env)
            except Exception as exc:  # a scrape never fails for the feedback store
                log.warning("feedback metrics not refreshed: %r", exc)
                return
            metrics.set_feedback(settings.model_name, stats)

    @router.get("/metrics")
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        await refresh_feedback_gauges()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/monitoring/drift")
    async def drift() -> SafeJSONResponse:
        if service.drift_runs is None:
            raise HTTPException(501, "no drift run store configured")
        latest = await asyncio.to_thread(service.drift_runs.latest, settings.model_name, settings.env)
        if latest is None:
            raise HTTPException(404, f"no drift run recorded for {settings.model_name} ({settings.env})")
        return SafeJSONResponse(finite(jsonable_encoder(latest)))  # a statistic may be NaN: null here

    return router
