"""Prometheus metrics of the service, in a registry of its own (one per app: tests build several), and the
ASGI middleware that counts and times every request."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# The top class's probability: at least 1/classes (0.5 for a binary model), so the buckets are dense above.
_CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0)
CONFIDENCE_WINDOW = 1000  # the predictions the low-confidence share is taken over, per model version


@dataclass
class ServiceMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    confidence_threshold: float = 0.7  # INFERENCE_CONFIDENCE_THRESHOLD (the service sets it)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("inference_requests", "HTTP requests", ["endpoint", "status"], registry=r)
        self.latency = Histogram(
            "inference_request_seconds", "request latency", ["endpoint"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.rows = Counter("inference_rows", "rows predicted", registry=r)
        self.batch_rows = Histogram("inference_batch_rows", "rows per forward pass", buckets=_BATCH_BUCKETS, registry=r)
        self.forward = Histogram("inference_forward_seconds", "forward pass time", buckets=_LATENCY_BUCKETS, registry=r)
        self.model_version = Gauge("inference_model_version", "version served", ["model"], registry=r)
        self.load_failures = Counter("inference_model_load_failures", "versions that failed to load", registry=r)
        labels = ["model", "version"]
        self.confidence = Histogram(
            "inference_confidence",
            "top-class probability of each prediction (a binary model's: max(p, 1 - p))",
            labels,
            buckets=_CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.low_confidence = Counter(
            "inference_low_confidence_predictions",
            "predictions whose top-class probability was under inference_confidence_threshold",
            labels,
            registry=r,
        )
        self.low_confidence_share = Gauge(
            "inference_low_confidence_share",
            f"share of the last {CONFIDENCE_WINDOW} predictions of the version under the threshold",
            labels,
            registry=r,
        )
        self.threshold = Gauge("inference_confidence_threshold", "the low-confidence threshold", registry=r)
        # Prediction capture (mlops_inference.capture): what reached each sink, what each lost and why.
        self.captured = Counter(
            "inference_captured_rows", "served rows written by the prediction capture", ["sink"], registry=r
        )
        self.capture_dropped = Counter(
            "inference_capture_dropped_rows",
            "sampled rows a sink did not get: queue_full (never blocks a request; lost to every sink), write_failed,"
            " pack_failed (a batch the capture could not pack: a bug, logged)",
            ["reason", "sink"],
            registry=r,
        )
        self.capture_queue = Gauge("inference_capture_queue_rows", "rows waiting for the capture's writer", registry=r)
        # Feedback joined to what was served (mlops_inference.feedback), refreshed from the feedback store
        # every INFERENCE_FEEDBACK_METRICS_S: the alert on accuracy reads these two.
        self.feedback_accuracy = Gauge(
            "inference_feedback_accuracy",
            "share of the labels sent to /feedback that the served prediction got right (at 0.5), over the"
            " labels joined to the capture of their row",
            labels,
            registry=r,
        )
        self.feedback_labels = Gauge(
            "inference_feedback_labels",
            "labels joined to the served prediction: the sample inference_feedback_accuracy is taken over",
            labels,
            registry=r,
        )
        self.threshold.set(self.confidence_threshold)
        self._recent: dict[tuple[str, str], collections.deque[bool]] = {}
        self._low_in_window: dict[tuple[str, str], int] = {}

    def set_confidence_threshold(self, threshold: float) -> None:
        self.confidence_threshold = threshold
        self.threshold.set(threshold)

    def observe_batch(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.forward.observe(seconds)

    def observe_confidence(self, model: str, version: int, confidences: list[float]) -> None:
        """On the event loop (not thread-safe by itself): one request's predictions."""
        key = (model, str(version))
        recent = self._recent.get(key)
        if recent is None:
            recent = self._recent[key] = collections.deque(maxlen=CONFIDENCE_WINDOW)
        histogram, low, in_window = self.confidence.labels(*key), 0, self._low_in_window.get(key, 0)
        for value in confidences:
            histogram.observe(value)
            under = value < self.confidence_threshold
            low += under
            if len(recent) == recent.maxlen:
                in_window -= recent[0]  # about to drop out of the window
            recent.append(under)
            in_window += under
        self._low_in_window[key] = in_window
        if low:
            self.low_confidence.labels(*key).inc(low)
        self.low_confidence_share.labels(*key).set(in_window / len(recent) if recent else 0.0)

    def set_feedback(self, model: str, version: int | None, accuracy: dict[str, Any]) -> None:
        """The served version's joined labels and accuracy (`FeedbackStore.version_accuracy`) as the two gauges.
        Only the version this instance serves: a version rolled away from keeps its labels in the store, and
        exported forever its last accuracy would hold the accuracy alert open. A version with no joined label
        has a count of 0 and no accuracy."""
        self.feedback_accuracy.clear()
        self.feedback_labels.clear()
        if version is None:
            return
        joined = int(accuracy.get("with_prediction", 0))
        self.feedback_labels.labels(model, str(version)).set(joined)
        if joined and accuracy.get("accuracy") is not None:
            self.feedback_accuracy.labels(model, str(version)).set(accuracy["accuracy"])

    def serving(self, model: str, version: int) -> None:
        """A swap to `version`: the other versions' low-confidence share and feedback gauges stop being
        exported (their alerts would otherwise stay open on the last value they had)."""
        keep = (model, str(version))
        for key in [k for k in self._recent if k != keep]:
            del self._recent[key]
            self._low_in_window.pop(key, None)
            self.low_confidence_share.remove(*key)
        self.feedback_accuracy.clear()  # the next refresh exports the version served now
        self.feedback_labels.clear()
        self.model_version.labels(model).set(version)


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
