"""`POST /feedback` and `GET /feedback/stats`: the label of a served row, joined to the prediction the
service captured for it, and what the labels say of each model version."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlops_inference import request_ids
from mlops_inference.errors import StrictJSONRoute, finite
from shared.errors import TransientError

if TYPE_CHECKING:
    from mlops_inference.service import Service
    from shared.ports import CapturedPrediction

log = logging.getLogger(__name__)
MAX_LOOKUPS = 4  # captured-prediction lookups at once (each may read files or run a query)
INT64_MAX = 2**63 - 1


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
    version: int | None = Field(default=None, ge=0, le=INT64_MAX, description="if given, the version that answered")

    @field_validator("row", "label", "version", mode="before")
    @classmethod
    def _json_integer(cls, value: Any) -> Any:
        """JSON Schema's integer: 3 or 3.0, never true or "3" (strict otherwise)."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


def feedback_router(service: Service, ids: request_ids.RequestIds) -> APIRouter:
    router = APIRouter(route_class=StrictJSONRoute)
    settings = service.settings
    lookups = asyncio.Semaphore(MAX_LOOKUPS)

    async def served_prediction(request_id: str, row: int, version: int) -> CapturedPrediction | None:
        """The capture of the row, or None (not sampled, not written yet, older than the lookup's window)."""
        if service.captured is None:
            return None
        if lookups.locked():  # the lookups share the threads /predict runs on: never more than a few at once
            raise HTTPException(503, "too many feedback lookups at once; retry", headers={"Retry-After": "1"})
        try:
            async with lookups:
                found = await asyncio.to_thread(
                    service.captured.find, settings.model_name, settings.env, request_id, row
                )
        except TransientError as exc:  # "not found" must mean not found: the caller retries, nothing is stored
            log.warning("feedback: captured predictions unreadable now: %r", exc)
            detail = "the served predictions cannot be read now; retry"
            raise HTTPException(503, detail, headers={"Retry-After": "10"}) from None
        if found is not None and found.version != version:  # the signed id says which version answered
            log.warning("feedback: capture of %s row %d is of version %d", request_id, row, found.version)
            return None
        return found

    @router.post(
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

    @router.get("/feedback/stats")
    async def feedback_stats() -> dict[str, Any]:
        if service.feedback is None:
            raise HTTPException(501, "no feedback store configured")
        stats = await asyncio.to_thread(service.feedback.stats, settings.model_name, settings.env)
        return finite({"model": settings.model_name, "env": settings.env, **stats})

    return router
