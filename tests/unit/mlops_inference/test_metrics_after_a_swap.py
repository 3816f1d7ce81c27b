"""After a swap, the versions no longer served stop being exported: their last low-confidence share or feedback
accuracy would otherwise hold an alert open for good (a rollback away from a bad version must clear it)."""

from __future__ import annotations

import re

from prometheus_client import generate_latest

from mlops_inference.metrics import ServiceMetrics


def series(metrics: ServiceMetrics, name: str) -> dict[str, float]:
    text = generate_latest(metrics.registry).decode()
    return {v: float(x) for v, x in re.findall(rf'^{name}{{model="m",version="(\d+)"}} (\S+)$', text, re.M)}


ACCURACY = {1: {"with_prediction": 60, "accuracy": 0.1}, 2: {"with_prediction": 5, "accuracy": 0.8}}


def test_a_swap_drops_the_old_versions_low_confidence_share_and_feedback_gauges():
    metrics = ServiceMetrics(confidence_threshold=0.7)
    metrics.serving("m", 1)
    metrics.observe_confidence("m", 1, [0.55, 0.6, 0.9])
    metrics.set_feedback("m", 1, ACCURACY[1])
    assert series(metrics, "inference_low_confidence_share") == {"1": 2 / 3}
    assert series(metrics, "inference_feedback_accuracy") == {"1": 0.1}

    metrics.serving("m", 2)
    assert series(metrics, "inference_low_confidence_share") == {}
    assert series(metrics, "inference_feedback_accuracy") == {}
    metrics.observe_confidence("m", 2, [0.95])
    metrics.set_feedback("m", 2, ACCURACY[2])
    assert series(metrics, "inference_low_confidence_share") == {"2": 0.0}
    assert series(metrics, "inference_feedback_accuracy") == {"2": 0.8}
    assert series(metrics, "inference_feedback_labels") == {"2": 5.0}


def test_only_the_version_served_is_exported_and_a_version_without_joined_labels_has_no_accuracy():
    metrics = ServiceMetrics()
    metrics.set_feedback("m", 2, ACCURACY[2])
    assert series(metrics, "inference_feedback_labels") == {"2": 5.0}
    metrics.set_feedback("m", 3, {"with_prediction": 0})
    assert series(metrics, "inference_feedback_labels") == {"3": 0.0}
    assert series(metrics, "inference_feedback_accuracy") == {}
    metrics.set_feedback("m", None, {})  # nothing loaded yet
    assert series(metrics, "inference_feedback_labels") == {}
