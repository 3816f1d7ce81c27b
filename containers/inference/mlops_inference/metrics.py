"""Prometheus metrics of the service, in a registry of its own (one per app: tests build several)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass
class ServiceMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

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

    def observe_batch(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.forward.observe(seconds)
