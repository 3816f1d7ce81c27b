"""The inference service: FastAPI over the registered model, with dynamic micro-batching.

Endpoints: `/healthz` (alive), `/readyz` (a model is loaded: 503 until then), `POST /predict`,
`/metrics` (Prometheus), `POST /feedback` (the label joined to the captured prediction of its row) and
`GET /feedback/stats`, `GET /monitoring/drift` (the latest drift run of the model). `/predict` takes JSON
rows for a tabular model; for an image model, multipart `file` parts or JSON base64 images
(mlops_inference.image_requests). The same app runs in
Cloud Run, on k3s and (through mangum) on Lambda; `create_app` takes its parts ready-made, so tests and
the Lambda handler build their own.

Here: `/predict`, the probes and the OpenAPI schema of the model served; the routes of `/feedback`
(feedback_routes) and of `/metrics` and `/monitoring/drift` (monitoring_routes) are routers of their own,
the parts behind them `service.Service`.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from mlops_inference.batching import BatcherOverloaded, BatcherStopped
from mlops_inference.errors import SafeJSONResponse, StrictJSONRoute, finite, install_error_handlers, invalid
from mlops_inference.feedback_routes import feedback_router
from mlops_inference.image_requests import (
    RequestRefused,
    answers,
    is_multipart,
    uploads_from_form,
    uploads_from_json,
)
from mlops_inference.image_spec import ImageItem, ImageSpec
from mlops_inference.metrics import RequestMetrics
from mlops_inference.model import InvalidRows, LoadedModel, ModelSpec
from mlops_inference.monitoring_routes import monitoring_router
from mlops_inference.request_body import RequestBody
from mlops_inference.service import ModelChanged, Service

if TYPE_CHECKING:
    from starlette.requests import Request


log = logging.getLogger(__name__)
Value = StrictFloat | StrictInt | StrictStr | StrictBool | None


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


def _row_error(row: int, field: str | None, message: str, kind: str = "value_error") -> dict[str, Any]:
    loc = ["body", "rows", row] + ([field] if field is not None else [])
    return {"loc": loc, "msg": message, "type": kind}


def _confidence(prediction: Any) -> float:
    """The top class's probability: a tabular (binary) prediction's max(p, 1 - p)."""
    return max(prediction, 1.0 - prediction) if isinstance(prediction, float) else prediction.confidence


def create_app(service: Service, *, manage_lifecycle: bool = True) -> FastAPI:
    """`manage_lifecycle=False`: the caller starts the service itself (the Lambda handler does, once per
    container, since mangum would run the lifespan on every invocation)."""
    metrics = service.metrics
    settings = service.settings
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

    async def forward(items: list[Any]) -> list[tuple[Any, str, int, str]]:
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
        not_finite = [i for i, (p, *_) in enumerate(results) if not math.isfinite(p)]
        if not_finite:  # the model overflowed on these rows: an answer about them, not an encoder's 500
            message = "the model gave no finite prediction for this row (its input is out of the model's range)"
            return invalid([_row_error(i, None, message, "model_output_not_finite") for i in not_finite])
        metrics.rows.inc(len(results))
        # One request's rows share one batch, hence one model and one id (the capture has them already).
        _, name, version, request_id = results[0]
        metrics.observe_confidence(name, version, [_confidence(p) for p, *_ in results])
        # A plain JSONResponse: the shape is PredictResponse's (documented in the OpenAPI schema), without
        # validating our own output again on every request.
        return JSONResponse(
            {
                "request_id": request_id,
                "model": name,
                "version": version,
                "output": model.spec.output,
                "predictions": [p for p, *_ in results],
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
        results = await forward([ImageItem(t, spec.input, len(u.data)) for t, u in zip(tensors, uploads, strict=True)])
        predictions = [p for p, *_ in results]
        not_finite = [u.loc for u, p in zip(uploads, predictions, strict=True) if not p.finite]
        if not_finite:
            message = "the model gave no finite prediction for this image"
            return invalid(
                [{"loc": list(loc), "msg": message, "type": "model_output_not_finite"} for loc in not_finite]
            )
        _, name, version, request_id = results[0]
        metrics.rows.inc(len(results))
        metrics.observe_confidence(name, version, [p.confidence for p in predictions])
        body = await service.image_decoder().run(answers, uploads, predictions)
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

    app.include_router(feedback_router(service, service.ids))
    app.include_router(monitoring_router(service))
    return app
