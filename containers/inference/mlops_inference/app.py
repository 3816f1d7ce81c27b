"""The inference service: FastAPI over the registered model, with dynamic micro-batching.

Endpoints: `/healthz` (alive), `/readyz` (a model is loaded: 503 until then), `POST /predict`,
`/metrics` (Prometheus), `POST /feedback` and `GET /feedback/stats`, `GET /monitoring/drift` (the
latest drift run of the model). The same app runs in Cloud Run, on k3s and (through mangum) on
Lambda; `create_app` takes its parts ready-made, so tests and the Lambda handler build their own.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
import math
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator

from mlops_inference import request_ids
from mlops_inference.batching import BatcherOverloaded, BatcherStopped, DynamicBatcher
from mlops_inference.errors import SafeJSONResponse, StrictJSONRoute, finite, install_error_handlers, invalid
from mlops_inference.metrics import ServiceMetrics
from mlops_inference.model import InvalidRows, LoadedModel, configure_threads
from mlops_inference.request_body import RequestBody

if TYPE_CHECKING:
    from mlops_inference.serving import ModelHolder
    from mlops_inference.settings import ServiceSettings
    from shared.ports import DriftRunStore, FeedbackStore

log = logging.getLogger(__name__)
Value = StrictFloat | StrictInt | StrictStr | StrictBool | None
INT64_MAX = 2**63 - 1


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
    """Strict: `label: true` or `"1"` is no label (3.0 is an integer, as in JSON Schema); integers fit int64."""

    model_config = ConfigDict(extra="forbid", strict=True)
    request_id: str = Field(
        pattern=request_ids.PATTERN, max_length=request_ids.MAX_CHARS, description="as /predict answered it"
    )
    row: int = Field(default=0, ge=0, le=INT64_MAX, description="the row's index in that request")
    label: int = Field(ge=0, le=1, description="0 or 1 (an integer: true and false are refused)")
    prediction: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    version: int | None = Field(default=None, ge=1, le=INT64_MAX, description="if given, the version that answered")

    @field_validator("row", "label", "version", mode="before")
    @classmethod
    def _json_integer(cls, value: Any) -> Any:
        """JSON Schema's integer: 3 or 3.0, never true or "3" (strict otherwise)."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


class ModelChanged(RuntimeError):
    """A newer version with other features was swapped in while the request waited: retry."""


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
        status: list[int | str] = ["disconnected"]  # no answer and no exception: the client left mid-request

        async def recording(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        except BaseException:
            if status[0] == "disconnected":
                status[0] = 500  # what the server answers for it
            raise
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
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    batcher: DynamicBatcher | None = None

    def __post_init__(self) -> None:
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


def _row_error(row: int, field: str | None, message: str, kind: str = "value_error") -> dict[str, Any]:
    loc = ["body", "rows", row] + ([field] if field is not None else [])
    return {"loc": loc, "msg": message, "type": kind}


def _on_swap(metrics: ServiceMetrics):
    def swapped(model: LoadedModel) -> None:
        metrics.model_version.labels(model.name).set(model.version)

    return swapped


def create_app(service: Service, *, manage_lifecycle: bool = True) -> FastAPI:
    """`manage_lifecycle=False`: the caller starts the service itself (the Lambda handler does, once per
    container, since mangum would run the lifespan on every invocation)."""
    metrics = service.metrics
    settings = service.settings
    ids = request_ids.RequestIds(settings.model_name, settings.env, settings.request_id_key)
    if settings.request_id_key is None:
        log.warning(
            "INFERENCE_REQUEST_ID_KEY is not set: request ids are signed with a key of this process, and /feedback"
            " answers 404 for an id another instance (or this one before a restart) issued"
        )

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
    app.router.route_class = StrictJSONRoute
    app.state.service = service
    install_error_handlers(app)
    app.add_middleware(RequestBody, limit=settings.max_body_bytes, timeout_s=settings.body_timeout_s)

    app.add_middleware(RequestMetrics, metrics=metrics)

    generic_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """The schema with the rows of the model served now (its features, their types and ranges)."""
        schema = generic_openapi()  # built once by FastAPI
        model = service.holder.current
        if model is None:
            return schema
        key = (model.name, model.version, model.generations)
        if key not in documented:
            documented.clear()
            patched = copy.deepcopy(schema)
            rows = patched["components"]["schemas"]["PredictRequest"]["properties"]["rows"]
            rows["items"], rows["maxItems"] = model.spec.row_schema(), settings.max_rows
            documented[key] = patched
        return documented[key]

    documented: dict[tuple, dict[str, Any]] = {}
    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema

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
        return SafeJSONResponse(
            {
                "status": "ready",
                "model": model.name,
                "version": model.version,
                "loaded_at": model.loaded_at.isoformat(),
                "features": [f.name for f in model.spec.features],
                "trained": finite({k: model.spec.extra[k] for k in ("trained_at", "metrics") if k in model.spec.extra}),
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
            return invalid([_row_error(e["row"], e["field"], e["message"]) for e in exc.errors])
        try:
            results = await service.predict(body.rows)
        except ModelChanged as exc:
            detail = f"model changed during the request ({exc}); retry"
            raise HTTPException(503, detail, headers={"Retry-After": "1"}) from None
        except BatcherOverloaded:
            raise HTTPException(503, "too many rows queued; retry", headers={"Retry-After": "1"}) from None
        except BatcherStopped:
            raise HTTPException(503, "shutting down", headers={"Retry-After": "1"}) from None
        not_finite = [i for i, (p, _, _) in enumerate(results) if not math.isfinite(p)]
        if not_finite:  # the model overflowed on these rows: an answer about them, not an encoder's 500
            message = "the model gave no finite prediction for this row (its input is out of the model's range)"
            return invalid([_row_error(i, None, message, "model_output_not_finite") for i in not_finite])
        metrics.rows.inc(len(results))
        # One request's rows share one batch, hence one model.
        _, name, version = results[0]
        # A plain JSONResponse: the shape is PredictResponse's (documented in the OpenAPI schema), without
        # validating our own output again on every request.
        return JSONResponse(
            {
                "request_id": ids.issue(version, len(results)),
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

    @app.post(
        "/feedback",
        status_code=202,
        responses={404: {"description": "no request with this id was answered by this service"}},
    )
    async def feedback(body: FeedbackRequest) -> dict[str, str]:
        if service.feedback is None:
            raise HTTPException(501, "no feedback store configured")
        issued = ids.check(body.request_id)
        if issued is None:
            raise HTTPException(404, "no request with this id was answered by this service")
        if body.row >= issued.rows:
            message = f"the request had {issued.rows} row(s): row is at most {issued.rows - 1}"
            raise RequestValidationError([{"loc": ("body", "row"), "msg": message, "type": "value_error"}])
        if body.version is not None and body.version != issued.version:
            message = f"the request was answered by version {issued.version}"
            raise RequestValidationError([{"loc": ("body", "version"), "msg": message, "type": "value_error"}])
        entry = {
            **body.model_dump(),
            "version": issued.version,
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
        return finite({"model": settings.model_name, "env": settings.env, **stats})

    @app.get("/monitoring/drift")
    async def drift() -> SafeJSONResponse:
        if service.drift_runs is None:
            raise HTTPException(501, "no drift run store configured")
        latest = await asyncio.to_thread(service.drift_runs.latest, settings.model_name, settings.env)
        if latest is None:
            raise HTTPException(404, f"no drift run recorded for {settings.model_name} ({settings.env})")
        return SafeJSONResponse(finite(jsonable_encoder(latest)))  # a statistic may be NaN: null here

    return app
