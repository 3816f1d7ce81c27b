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
FEEDBACK_WAIT_S = 2.0  # what a scrape waits for the feedback store (the sidecar's own timeout is 10 s)


def monitoring_router(service: Service) -> APIRouter:
    router = APIRouter(route_class=StrictJSONRoute)
    settings, metrics = service.settings, service.metrics

    feedback_refreshed = [-math.inf]  # when the feedback gauges last read the store (time.monotonic)
    refreshing: set[asyncio.Task[None]] = set()  # the refresh under way, if any (a reference keeps it alive)

    async def refresh_feedback_gauges() -> None:
        store = service.feedback
        assert store is not None
        model = service.holder.current
        if model is None:
            metrics.set_feedback(settings.model_name, None, {})
            return
        try:
            accuracy = await asyncio.to_thread(store.version_accuracy, settings.model_name, settings.env, model.version)
        except Exception as exc:  # a scrape never fails for the feedback store
            log.warning("feedback metrics not refreshed: %r", exc)
            return
        if service.holder.current is model:  # a swap meanwhile: the next refresh reads the new version
            metrics.set_feedback(settings.model_name, model.version, accuracy)

    async def feedback_gauges_fresh() -> None:
        """At most once per INFERENCE_FEEDBACK_METRICS_S, whatever the scrape rate, in a task of its own: a
        scrape waits for it FEEDBACK_WAIT_S at most, then serves the values already there (a slow store must
        not time the scrape out and take every series with it); a store that is down keeps the last values."""
        if service.feedback is None:
            return
        if not refreshing and time.monotonic() - feedback_refreshed[0] >= settings.feedback_metrics_s:
            feedback_refreshed[0] = time.monotonic()  # a store that is down is asked again next period
            task = asyncio.create_task(refresh_feedback_gauges())
            refreshing.add(task)
            task.add_done_callback(refreshing.discard)
        if refreshing:
            await asyncio.wait(refreshing, timeout=FEEDBACK_WAIT_S)

    @router.get("/metrics")
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        await feedback_gauges_fresh()
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
