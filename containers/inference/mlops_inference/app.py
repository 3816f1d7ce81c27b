"""The inference service: FastAPI over the registered model, with dynamic micro-batching.

Endpoints: `/healthz` (alive), `/readyz` (a model is loaded: 503 until then), `POST /predict`,
`/metrics` (Prometheus), `POST /feedback` (the label joined to the captured prediction of its row) and
`GET /feedback/stats`, `GET /monitoring/drift` (the latest drift run of the model). `/predict` takes JSON
rows for a tabular model; for an image model, multipart `file` parts or JSON base64 images
(mlops_inference.image_requests). The same app runs in
Cloud Run, on k3s and (through mangum) on Lambda; `create_app` takes its parts ready-made, so tests and
the Lambda handler build their own.
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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from mlops_inference import request_ids
from mlops_inference.batching import BatcherOverloaded, BatcherStopped, DynamicBatcher
from mlops_inference.capture import PredictionCapture, records_for_images, records_for_rows
from mlops_inference.errors import SafeJSONResponse, StrictJSONRoute, finite, install_error_handlers, invalid
from mlops_inference.image_decode import DecodeLimits
from mlops_inference.image_requests import (
    ImageDecoder,
    RequestRefused,
    answers,
    is_multipart,
    uploads_from_form,
    uploads_from_json,
)
from mlops_inference.image_spec import ImageItem, ImageSpec
from mlops_inference.metrics import ServiceMetrics
from mlops_inference.model import InvalidRows, LoadedModel, ModelSpec, configure_threads
from mlops_inference.request_body import RequestBody
from shared.errors import TransientError

if TYPE_CHECKING:
    from starlette.requests import Request

    from mlops_inference.serving import ModelHolder
    from mlops_inference.settings import ServiceSettings
    from shared.ports import CapturedPrediction, CapturedPredictions, DriftRunStore, FeedbackStore

log = logging.getLogger(__name__)
Value = StrictFloat | StrictInt | StrictStr | StrictBool | None
INT64_MAX = 2**63 - 1


class ImageData(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    data: str = Field(description="the file's bytes in base64: PNG, JPEG or DICOM (Part 10)")
    filename: str | None = Field(default=None, max_length=255, description="echoed in the answer")


class PredictRequest(BaseModel):
    """`rows` for a tabular model, `images` for an image model (or multipart `file` parts instead)."""

    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Value]] | None = Field(
        default=None, min_length=1, description="one object per row, keyed by feature"
    )
    images: list[ImageData] | None = Field(default=None, min_length=1, description="an image model's input")

    @model_validator(mode="after")
    def _one_input(self) -> PredictRequest:
        if (self.rows is None) == (self.images is None):
            raise ValueError("give `rows` (a tabular model) or `images` (an image model)")
        return self


class PredictResponse(BaseModel):
    request_id: str
    model: str
    version: int
    output: str
    predictions: list[float] | list[dict[str, Any]] = Field(
        description="a probability per row (tabular); per image: filename, label, confidence, probabilities,"
        " and for segmentation mask (PNG, base64) and areas"
    )


MULTIPART_DOC = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                    "required": ["file"],
                }
            }
        }
    },
    "responses": {
        "413": {"description": "a body, file, pixel count or image count over its limit"},
        "415": {"description": "a file that is not PNG, JPEG or DICOM, or a DICOM compression not read here"},
    },
}


class PredictRoute(StrictJSONRoute):
    """/predict: a multipart body goes to the image upload handler, anything else to FastAPI's JSON route."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def handle(request: Request):
            if is_multipart(request.headers.get("content-type")):
                return await request.app.state.predict_files(request)
            return await handler(request)

        return handle


class FeedbackRequest(BaseModel):
    """Strict: `label: true` or `"1"` is no label (3.0 is an integer, as in JSON Schema); integers fit int64.

    `prediction` is accepted (older callers send it) and ignored: the prediction an entry is scored on is
    the one the service captured for that row, never what a caller says it was."""

    model_config = ConfigDict(extra="forbid", strict=True)
    request_id: str = Field(
        pattern=request_ids.PATTERN, max_length=request_ids.MAX_CHARS, description="as /predict answered it"
    )
    row: int = Field(default=0, ge=0, le=INT64_MAX, description="the row's index in that request")
    label: int = Field(ge=0, le=1, description="0 or 1 (an integer: true and false are refused)")
    prediction: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="ignored (accepted for older callers): the captured prediction of the row is what counts",
    )
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
    decoder: ImageDecoder | None = None  # made by start(), or on first use
    capture: PredictionCapture | None = None  # served predictions recorded (None: capture off)
    captured: CapturedPredictions | None = None  # where /feedback finds them (None: every label unjoined)

    def __post_init__(self) -> None:
        self.holder.on_swap = _on_swap(self.metrics)  # before start(): the first load counts too
        self.metrics.set_confidence_threshold(self.settings.confidence_threshold)

    def image_decoder(self) -> ImageDecoder:
        if self.decoder is None:
            limits = DecodeLimits(self.settings.max_file_bytes, self.settings.max_image_pixels)
            self.decoder = ImageDecoder(self.settings.decode_threads, limits)
        return self.decoder

    def _forward(self, items: list[Any]) -> list[tuple[Any, str, int]]:
        """One forward pass over the rows, or the decoded images, of one or several requests, with whatever
        model is current now (a batch holds one kind: a swap between kinds fails the batch, to retry)."""
        model = self.holder.current
        if model is None:
            raise ModelChanged("no model loaded")
        started = time.perf_counter()
        predictions: list[Any]
        if isinstance(model.spec, ImageSpec):
            spec = model.spec
            if not all(isinstance(item, ImageItem) and item.input == spec.input for item in items):
                raise ModelChanged(f"{model.name} v{model.version} takes other input")
            predictions = model.predict_images([item.tensor for item in items])
        else:
            if any(isinstance(item, ImageItem) for item in items):
                raise ModelChanged(f"{model.name} v{model.version} is a tabular model")
            try:
                model.spec.validate(items)
            except InvalidRows:
                raise ModelChanged(f"{model.name} v{model.version} has other features") from None
            predictions = model.predict(items)
        if self.batcher is None:  # the batcher reports its own batches through on_batch
            self.metrics.observe_batch(len(items), time.perf_counter() - started)
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
        if self.capture is not None:
            self.capture.start()

    async def stop(self) -> None:
        if self.batcher:
            await self.batcher.stop()
        if self.capture is not None:
            await asyncio.to_thread(self.capture.stop)  # what was captured is flushed before the process ends
        if self.decoder:
            self.decoder.close()
            self.decoder = None
        self.holder.stop()

    async def predict(self, items: list[Any]) -> list[tuple[Any, str, int]]:
        if self.batcher is not None:
            return await self.batcher.submit(items)
        return await asyncio.to_thread(self._forward, items)


def _row_error(row: int, field: str | None, message: str, kind: str = "value_error") -> dict[str, Any]:
    loc = ["body", "rows", row] + ([field] if field is not None else [])
    return {"loc": loc, "msg": message, "type": kind}


def _confidence(prediction: Any) -> float:
    """The top class's probability: a tabular (binary) prediction's max(p, 1 - p)."""
    return max(prediction, 1.0 - prediction) if isinstance(prediction, float) else prediction.confidence


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

    def body_limit(scope: dict, headers: dict[bytes, bytes]) -> int:
        """Uploads (multipart, or JSON to an image model's /predict) take INFERENCE_MAX_UPLOAD_BYTES."""
        if scope.get("path") == "/predict":
            model = service.holder.current
            if is_multipart(headers.get(b"content-type", b"").decode("latin-1")) or (
                model is not None and isinstance(model.spec, ImageSpec)
            ):
                return settings.max_upload_bytes
        return settings.max_body_bytes

    app.add_middleware(
        RequestBody, limit=settings.max_body_bytes, timeout_s=settings.body_timeout_s, limit_for=body_limit
    )

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
            request = patched["components"]["schemas"]["PredictRequest"]
            if isinstance(model.spec, ModelSpec):
                rows = request["properties"]["rows"] = {"type": "array", "minItems": 1}
                rows["items"], rows["maxItems"] = model.spec.row_schema(), settings.max_rows
                del request["properties"]["images"]
                request["required"] = ["rows"]
                # The served model takes JSON rows only: its schema documents no upload.
                patched["paths"]["/predict"]["post"]["requestBody"]["content"].pop("multipart/form-data", None)
            else:
                request["properties"]["images"] = {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": settings.max_images,
                    "items": {"$ref": "#/components/schemas/ImageData"},
                }
                del request["properties"]["rows"]
                request["required"] = ["images"]
                upload = patched["paths"]["/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]
                upload["schema"]["properties"]["file"]["maxItems"] = settings.max_images
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
        spec = model.spec
        about = (
            {"features": [f.name for f in spec.features]}
            if isinstance(spec, ModelSpec)
            else {"input": spec.input.to_json(), "output": spec.output.to_json()}
        )
        return SafeJSONResponse(
            {
                "status": "ready",
                "model": model.name,
                "version": model.version,
                "loaded_at": model.loaded_at.isoformat(),
                **about,
                "trained": finite({k: model.spec.extra[k] for k in ("trained_at", "metrics") if k in model.spec.extra}),
                "last_attempt": last,
            }
        )

    async def forward(items: list[Any]) -> list[tuple[Any, str, int]]:
        try:
            return await service.predict(items)
        except ModelChanged as exc:
            detail = f"model changed during the request ({exc}); retry"
            raise HTTPException(503, detail, headers={"Retry-After": "1"}) from None
        except BatcherOverloaded:
            raise HTTPException(503, "too many rows queued; retry", headers={"Retry-After": "1"}) from None
        except BatcherStopped:
            raise HTTPException(503, "shutting down", headers={"Retry-After": "1"}) from None

    def served() -> LoadedModel:
        model = service.holder.current
        if model is None:
            raise HTTPException(503, "no model loaded yet", headers={"Retry-After": "5"})
        return model

    async def predict(body: PredictRequest) -> JSONResponse:
        if body.images is not None:
            model = served()
            if isinstance(model.spec, ModelSpec):
                message = "this model takes `rows` of features, not images"
                return invalid([{"loc": ["body", "images"], "msg": message, "type": "tabular_model"}])
            return await predict_images(model, lambda: uploads_from_json(body.images or [], settings.max_images))
        rows = body.rows or []
        if len(rows) > settings.max_rows:
            raise HTTPException(413, f"{len(rows)} rows; at most {settings.max_rows} per request")
        model = served()
        if not isinstance(model.spec, ModelSpec):
            message = "this model takes images: multipart/form-data `file` parts, or JSON `images`"
            return invalid([{"loc": ["body", "rows"], "msg": message, "type": "image_model"}])
        try:
            model.spec.validate(rows)
        except InvalidRows as exc:
            return invalid([_row_error(e["row"], e["field"], e["message"]) for e in exc.errors])
        results = await forward(rows)
        not_finite = [i for i, (p, _, _) in enumerate(results) if not math.isfinite(p)]
        if not_finite:  # the model overflowed on these rows: an answer about them, not an encoder's 500
            message = "the model gave no finite prediction for this row (its input is out of the model's range)"
            return invalid([_row_error(i, None, message, "model_output_not_finite") for i in not_finite])
        metrics.rows.inc(len(results))
        # One request's rows share one batch, hence one model.
        _, name, version = results[0]
        metrics.observe_confidence(name, version, [_confidence(p) for p, _, _ in results])
        request_id = ids.issue(version, len(results))
        capture = service.capture
        if capture is not None:
            picked = capture.sampled(len(rows))
            if picked:
                predictions = [p for p, _, _ in results]
                at = datetime.now(UTC)
                records = records_for_rows(
                    rows,
                    predictions,
                    picked,
                    request_id=request_id,
                    at=at,
                    model=name,
                    version=version,
                    env=settings.env,
                )
                capture.offer(records)
        # A plain JSONResponse: the shape is PredictResponse's (documented in the OpenAPI schema), without
        # validating our own output again on every request.
        return JSONResponse(
            {
                "request_id": request_id,
                "model": name,
                "version": version,
                "output": model.spec.output,
                "predictions": [p for p, _, _ in results],
            }
        )

    async def predict_images(model: LoadedModel, read: Any) -> JSONResponse:
        """Files read by `read` (awaitable or not), decoded in the pool, batched, answered per image."""
        spec = model.spec
        if not isinstance(spec, ImageSpec):
            raise HTTPException(415, "this model takes JSON rows of features (application/json), not files")
        try:
            uploads = read()
            if asyncio.iscoroutine(uploads):
                uploads = await uploads
            tensors = await service.image_decoder().decode_all(uploads, spec.input)
        except RequestRefused as refused:
            return refused.response()
        results = await forward([ImageItem(t, spec.input) for t in tensors])
        predictions = [p for p, _, _ in results]
        not_finite = [u.loc for u, p in zip(uploads, predictions, strict=True) if not p.finite]
        if not_finite:
            message = "the model gave no finite prediction for this image"
            return invalid(
                [{"loc": list(loc), "msg": message, "type": "model_output_not_finite"} for loc in not_finite]
            )
        _, name, version = results[0]
        metrics.rows.inc(len(results))
        metrics.observe_confidence(name, version, [p.confidence for p in predictions])
        body = await service.image_decoder().run(answers, uploads, predictions)
        request_id = ids.issue(version, len(results))
        capture = service.capture
        if capture is not None:
            picked = capture.sampled(len(predictions))
            if picked:  # the summaries in the decoding pool: a few tensor reductions per image, off the loop
                records = await service.image_decoder().run(
                    lambda: records_for_images(
                        tensors,
                        [len(u.data) for u in uploads],
                        predictions,
                        picked,
                        spec.input,
                        request_id=request_id,
                        at=datetime.now(UTC),
                        model=name,
                        version=version,
                        env=settings.env,
                    )
                )
                capture.offer(records)
        return SafeJSONResponse(
            finite(
                {
                    "request_id": request_id,
                    "model": name,
                    "version": version,
                    "output": spec.output.name,
                    "kind": spec.output.kind,
                    "predictions": body,
                }
            )
        )

    async def predict_files(request: Request) -> Response:
        """multipart/form-data: the route's JSON handler never sees these bodies (PredictRoute)."""
        try:
            return await predict_images(served(), lambda: uploads_from_form(request, settings.max_images))
        except HTTPException as exc:
            return SafeJSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    app.state.predict_files = predict_files
    app.router.add_api_route(
        "/predict",
        predict,
        methods=["POST"],
        response_model=PredictResponse,
        route_class_override=PredictRoute,
        openapi_extra=MULTIPART_DOC,
    )

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

    @app.get("/metrics")
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        await refresh_feedback_gauges()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def served_prediction(request_id: str, row: int, version: int) -> CapturedPrediction | None:
        """The capture of the row, or None (not sampled, not written yet, older than the lookup's window)."""
        if service.captured is None:
            return None
        try:
            found = await asyncio.to_thread(service.captured.find, settings.model_name, settings.env, request_id, row)
        except TransientError as exc:  # "not found" must mean not found: the caller retries, nothing is stored
            log.warning("feedback: captured predictions unreadable now: %r", exc)
            detail = "the served predictions cannot be read now; retry"
            raise HTTPException(503, detail, headers={"Retry-After": "10"}) from None
        if found is not None and found.version != version:  # the signed id says which version answered
            log.warning("feedback: capture of %s row %d is of version %d", request_id, row, found.version)
            return None
        return found

    @app.post(
        "/feedback",
        status_code=202,
        responses={
            404: {"description": "no request with this id was answered by this service"},
            503: {"description": "the captured predictions cannot be read now: retry after Retry-After seconds"},
        },
    )
    async def feedback(body: FeedbackRequest) -> dict[str, Any]:
        """The label of one served row, stored with the prediction the service captured for that row
        (`joined: true`), or without one when there is no capture of it yet (`joined: false`: not sampled, not
        written yet, or older than INFERENCE_FEEDBACK_JOIN_DAYS; sent again later, it may join). Accuracy is
        taken over joined entries only; the body's `prediction` is ignored."""
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
        found = await served_prediction(body.request_id, body.row, issued.version)
        entry = {
            "request_id": body.request_id,
            "row": body.row,
            "label": body.label,
            "version": issued.version,
            "model": settings.model_name,
            "env": settings.env,
            "received_at": datetime.now(UTC),
            "joined": found is not None,
            "prediction": found.prediction if found else None,
            "confidence": found.confidence if found else None,
            "served_at": found.served_at if found else None,
        }
        await asyncio.to_thread(service.feedback.record, entry)
        return {"status": "recorded", "joined": found is not None}

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
