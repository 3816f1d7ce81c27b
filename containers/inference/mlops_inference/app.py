"""The inference service: FastAPI over the registered model, with dynamic micro-batching.

Endpoints: `/healthz` (alive), `/readyz` (a model is loaded: 503 until then), `POST /predict`,
`/metrics` (Prometheus), `POST /feedback` and `GET /feedback/stats`, `GET /monitoring/drift` (the
latest drift run of the model). The same app runs in Cloud Run, on k3s and (through mangum) on
Lambda; `create_app` takes its parts ready-made, so tests and the Lambda handler build their own.
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from mlops_inference.batching import BatcherOverloaded, BatcherStopped, DynamicBatcher
from mlops_inference.metrics import ServiceMetrics
from mlops_inference.model import InvalidRows, LoadedModel, configure_threads

if TYPE_CHECKING:
    from mlops_inference.feedback import FeedbackStore
    from mlops_inference.serving import ModelHolder
    from mlops_inference.settings import ServiceSettings
    from shared.ports import DriftRunStore

Value = StrictFloat | StrictInt | StrictStr | StrictBool | None


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Value]] = Field(min_length=1, description="one object per row, keyed by feature")


class PredictResponse(BaseModel):
    request_id: str
    model: str
    version: int
    output: str
    predictions: list[float]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=128)
    row: int = Field(default=0, ge=0)
    label: Literal[0, 1]
    prediction: float | None = Field(default=None, ge=0.0, le=1.0)
    version: int | None = Field(default=None, ge=1)


class ModelChanged(RuntimeError):
    """A newer version with other features was swapped in while the request waited: retry."""


class BodyLimit:
    """ASGI middleware: a body past `limit` bytes is answered 413 before it is read whole (Content-Length
    is checked first; a chunked body is counted as it arrives)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        seen, started = 0, False

        async def counting() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        async def tracking(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, tracking)
        except _TooLarge:
            if started:  # the app answered before reading it all: its answer stands, close the rest
                return
            await self._too_large(send)

    async def _too_large(self, send: Any) -> None:
        body = f'{{"detail": "request body over {self.limit} bytes"}}'.encode()
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class RequestMetrics:
    """ASGI middleware counting requests and timing them per route. Pure ASGI: Starlette's
    `@app.middleware("http")` wraps every response in a task group and a stream, which cost this
    service a measurable share of its CPU under load."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def recording(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(endpoint, str(status[0])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)


@dataclass
class Service:
    """The parts behind the endpoints. `batcher` is None with batching off (and on Lambda)."""

    settings: ServiceSettings
    holder: ModelHolder
    feedback: FeedbackStore | None = None
    drift_runs: DriftRunStore | None = None
    metrics: ServiceMetrics | None = None
    batcher: DynamicBatcher | None = None

    def __post_init__(self) -> None:
        self.metrics = self.metrics or ServiceMetrics()
        self.holder.on_swap = _on_swap(self.metrics)  # before start(): the first load counts too

    def _forward(self, rows: list[dict[str, Any]]) -> list[tuple[float, str, int]]:
        """One forward pass over rows of one or several requests, with whatever model is current now."""
        model = self.holder.current
        if model is None:
            raise ModelChanged("no model loaded")
        try:
            model.spec.validate(rows)
        except InvalidRows:
            raise ModelChanged(f"{model.name} v{model.version} has other features") from None
        started = time.perf_counter()
        predictions = model.predict(rows)
        if self.batcher is None:  # the batcher reports its own batches through on_batch
            self.metrics.observe_batch(len(rows), time.perf_counter() - started)
        return [(p, model.name, model.version) for p in predictions]

    async def start(self) -> None:
        configure_threads(self.settings.threads)
        await asyncio.to_thread(self.holder.refresh)
        # What startup allocated (torch, FastAPI, the model) lives as long as the process: frozen, the
        # collector stops walking it on every full collection, which stalled requests for 100+ ms.
        gc.collect()
        gc.freeze()
        self.holder.start(self.settings.reload_s)
        if self.settings.batching:
            self.batcher = DynamicBatcher(
                self._forward,
                max_batch_size=self.settings.max_batch_size,
                max_wait_ms=self.settings.max_wait_ms,
                on_batch=self.metrics.observe_batch,
            )
            await self.batcher.start()

    async def stop(self) -> None:
        if self.batcher:
            await self.batcher.stop()
        self.holder.stop()

    async def predict(self, rows: list[dict[str, Any]]) -> list[tuple[float, str, int]]:
        if self.batcher is not None:
            return await self.batcher.submit(rows)
        return await asyncio.to_thread(self._forward, rows)


def _on_swap(metrics: ServiceMetrics):
    def swapped(model: LoadedModel) -> None:
        metrics.model_version.labels(model.name).set(model.version)

    return swapped


def create_app(service: Service, *, manage_lifecycle: bool = True) -> FastAPI:
    """`manage_lifecycle=False`: the caller starts the service itself (the Lambda handler does, once per
    container, since mangum would run the lifespan on every invocation)."""
    metrics = service.metrics
    settings = service.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if manage_lifecycle:
            await service.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await service.stop()

    app = FastAPI(title=f"mlops-events inference: {settings.model_name} ({settings.env})", lifespan=lifespan)
    app.state.service = service
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    app.add_middleware(RequestMetrics, metrics=metrics)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        model, attempt = service.holder.current, service.holder.last_attempt
        last = {"version": attempt.version, "error": attempt.error, "at": attempt.at.isoformat()} if attempt else None
        if model is None:
            reason = (attempt.error if attempt else None) or "loading"
            return JSONResponse({"status": "not ready", "reason": reason, "last_attempt": last}, status_code=503)
        return JSONResponse(
            {
                "status": "ready",
                "model": model.name,
                "version": model.version,
                "loaded_at": model.loaded_at.isoformat(),
                "features": [f.name for f in model.spec.features],
                "trained": {k: model.spec.extra[k] for k in ("trained_at", "metrics") if k in model.spec.extra},
                "last_attempt": last,
            }
        )

    @app.post("/predict", response_model=PredictResponse)
    async def predict(body: PredictRequest) -> JSONResponse:
        if len(body.rows) > settings.max_rows:
            raise HTTPException(413, f"{len(body.rows)} rows; at most {settings.max_rows} per request")
        model = service.holder.current
        if model is None:
            raise HTTPException(503, "no model loaded yet", headers={"Retry-After": "5"})
        try:
            model.spec.validate(body.rows)
        except InvalidRows as exc:
            detail = [
                {"loc": ["body", "rows", e["row"], e["field"]], "msg": e["message"], "type": "value_error"}
                for e in exc.errors
            ]
            return JSONResponse({"detail": detail}, status_code=422)
        try:
            results = await service.predict(body.rows)
        except ModelChanged as exc:
            detail = f"model changed during the request ({exc}); retry"
            raise HTTPException(503, detail, headers={"Retry-After": "1"}) from None
        except BatcherOverloaded:
            raise HTTPException(503, "too many rows queued; retry", headers={"Retry-After": "1"}) from None
        except BatcherStopped:
            raise HTTPException(503, "shutting down", headers={"Retry-After": "1"}) from None
        metrics.rows.inc(len(results))
        # One request's rows share one batch, hence one model.
        _, name, version = results[0]
        # A plain JSONResponse: the shape is PredictResponse's (documented in the OpenAPI schema), without
        # validating our own output again on every request.
        return JSONResponse(
            {
                "request_id": uuid.uuid4().hex,
                "model": name,
                "version": version,
                "output": model.spec.output,
                "predictions": [p for p, _, _ in results],
            }
        )

    @app.get("/metrics")
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/feedback", status_code=202)
    async def feedback(body: FeedbackRequest) -> dict[str, str]:
        if service.feedback is None:
            raise HTTPException(501, "no feedback store configured")
        current = service.holder.current
        entry = {
            **body.model_dump(),
            "version": body.version or (current.version if current else None),
            "model": settings.model_name,
            "env": settings.env,
            "received_at": datetime.now(UTC),
        }
        await asyncio.to_thread(service.feedback.record, entry)
        return {"status": "recorded"}

    @app.get("/feedback/stats")
    async def feedback_stats() -> dict[str, Any]:
        if service.feedback is None:
            raise HTTPException(501, "no feedback store configured")
        stats = await asyncio.to_thread(service.feedback.stats, settings.model_name, settings.env)
        return {"model": settings.model_name, "env": settings.env, **stats}

    @app.get("/monitoring/drift")
    async def drift() -> dict[str, Any]:
        if service.drift_runs is None:
            raise HTTPException(501, "no drift run store configured")
        latest = await asyncio.to_thread(service.drift_runs.latest, settings.model_name, settings.env)
        if latest is None:
            raise HTTPException(404, f"no drift run recorded for {settings.model_name} ({settings.env})")
        return latest

    return app
