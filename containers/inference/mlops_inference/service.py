"""The parts behind the endpoints: the model holder, the batcher, the image decoder, the capture and the
stores, started and stopped with the app, and the forward pass every prediction goes through."""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_inference.batching import DynamicBatcher
from mlops_inference.capture import PredictionCapture, ServedBatch
from mlops_inference.image_decode import DecodeLimits
from mlops_inference.image_requests import ImageDecoder
from mlops_inference.image_spec import ImageItem, ImageSpec
from mlops_inference.metrics import ServiceMetrics
from mlops_inference.model import InvalidRows, LoadedModel, configure_threads
from mlops_inference.request_ids import RequestIds

if TYPE_CHECKING:
    from mlops_inference.serving import ModelHolder
    from mlops_inference.settings import ServiceSettings
    from shared.ports import CapturedPredictions, DriftRunStore, FeedbackStore


class ModelChanged(RuntimeError):
    """A newer version with other features was swapped in while the request waited: retry."""


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

    ids: RequestIds = field(init=False)  # issues each request's id when its forward pass is done

    def __post_init__(self) -> None:
        self.ids = RequestIds(self.settings.model_name, self.settings.env, self.settings.request_id_key)
        self.holder.on_swap = _on_swap(self.metrics)  # before start(): the first load counts too
        self.metrics.set_confidence_threshold(self.settings.confidence_threshold)

    def image_decoder(self) -> ImageDecoder:
        if self.decoder is None:
            limits = DecodeLimits(self.settings.max_file_bytes, self.settings.max_image_pixels)
            self.decoder = ImageDecoder(self.settings.decode_threads, limits)
        return self.decoder

    def _forward(self, items: list[Any], sizes: list[int]) -> list[tuple[Any, str, int, str]]:
        """One forward pass over the rows, or the decoded images, of one or several requests (`sizes`: how
        many each brought, in order), with whatever model is current now (a batch holds one kind: a swap
        between kinds fails the batch, to retry). Per row: its prediction, the model, its version and the
        request's id. The capture gets the batch here, on this thread, not from each request's handler."""
        model = self.holder.current
        if model is None:
            raise ModelChanged("no model loaded")
        started = time.perf_counter()
        predictions: list[Any]
        if isinstance(model.spec, ImageSpec):
            spec = model.spec
            if not all(isinstance(item, ImageItem) and item.input == spec.input for item in items):
                raise ModelChanged(f"{model.name} v{model.version} takes other input")
            # The capture's image summaries with the forward pass: a dozen ops for the batch, not per image
            summarize = self.capture is not None
            predictions = model.predict_images([item.tensor for item in items], summarize=summarize)
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
        request_ids = [self.ids.issue(model.version, size) for size in sizes]
        if self.capture is not None:
            self._capture(model, items, sizes, request_ids, predictions)
        answers = []
        start = 0
        for request_id, size in zip(request_ids, sizes, strict=True):
            answers += [(p, model.name, model.version, request_id) for p in predictions[start : start + size]]
            start += size
        return answers

    def _capture(
        self, model: LoadedModel, items: list[Any], sizes: list[int], request_ids: list[str], predictions: list[Any]
    ) -> None:
        capture = self.capture
        assert capture is not None
        picked = capture.sampled(len(items))
        if picked == []:
            return
        image = isinstance(model.spec, ImageSpec)
        inputs = [item.file_bytes for item in items] if image else items  # never an image's pixels
        at = datetime.now(UTC)
        kind = "image" if image else "tabular"
        served = ServedBatch(kind, model.name, model.version, at, request_ids, sizes, inputs, predictions, picked)
        capture.offer(served)

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
                request_sizes=True,
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

    async def predict(self, items: list[Any]) -> list[tuple[Any, str, int, str]]:
        """Per item: its prediction, the model and version that made it, and the request's id."""
        if self.batcher is not None:
            return await self.batcher.submit(items)
        return await asyncio.to_thread(self._forward, items, [len(items)])


def _on_swap(metrics: ServiceMetrics):
    def swapped(model: LoadedModel) -> None:
        metrics.serving(model.name, model.version)

    return swapped
