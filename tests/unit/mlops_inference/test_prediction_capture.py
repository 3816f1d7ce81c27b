"""The prediction capture's queue: bounded (a full queue drops and counts, never blocks), flushed on
size, on interval and at shutdown, a failed write counted and survived. A fake sink stands for storage."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_inference.capture import PredictionCapture, records_for_rows
from mlops_inference.metrics import ServiceMetrics

AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


class FakeSink:
    def __init__(self, *, fail: bool = False, gate: threading.Event | None = None) -> None:
        self.batches: list[list[dict]] = []
        self.fail, self.gate = fail, gate
        self.written = threading.Event()

    def write(self, records):
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise OSError("storage down")
        self.batches.append(list(records))
        self.written.set()

    @property
    def rows(self) -> list[dict]:
        return [r for b in self.batches for r in b]


def records(n: int, start: int = 0) -> list[dict]:
    return [{"request_id": f"r{start + i}", "row": 0} for i in range(n)]


def value(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@settings(max_examples=60, deadline=None)
@given(bound=st.integers(1, 50), offers=st.lists(st.integers(0, 30), max_size=12))
def test_the_queue_never_holds_more_than_its_bound_and_counts_every_drop(bound, offers):
    # GIVEN a capture whose writer is not running WHEN requests offer rows
    metrics, sink = ServiceMetrics(), FakeSink()
    capture = PredictionCapture({"fake": sink}, metrics, max_queue=bound, batch_rows=1000, flush_s=3600)
    offered = 0
    for n in offers:
        capture.offer(records(n, offered))
        offered += n
        assert capture.queued <= bound
    # THEN what was kept plus what was dropped is what was offered, and the first rows are the ones kept
    kept = min(offered, bound)
    assert capture.queued == kept
    assert value(metrics, "inference_capture_dropped_rows_total", reason="queue_full", sink="fake") == offered - kept
    assert capture.flush() == kept
    assert [r["request_id"] for r in sink.rows] == [f"r{i}" for i in range(offered)][:kept]
    assert value(metrics, "inference_captured_rows_total", sink="fake") == kept


def test_a_full_batch_is_written_without_waiting_for_the_interval():
    sink = FakeSink()
    capture = PredictionCapture({"fake": sink}, ServiceMetrics(), batch_rows=5, flush_s=3600)
    capture.start()
    try:
        capture.offer(records(4))
        assert not sink.written.wait(0.3)  # under the batch size: it waits
        capture.offer(records(8, 4))
        assert sink.written.wait(5)
        deadline = time.monotonic() + 5
        while len(sink.rows) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        # full batches only: the other 2 rows wait for the interval (or shutdown), not a file of their own
        time.sleep(0.1)
        assert [len(b) for b in sink.batches] == [5, 5] and capture.queued == 2
    finally:
        capture.stop()
    assert [len(b) for b in sink.batches] == [5, 5, 2]


def test_a_partial_batch_is_written_when_the_interval_passes():
    sink = FakeSink()
    capture = PredictionCapture({"fake": sink}, ServiceMetrics(), batch_rows=1000, flush_s=0.1)
    capture.start()
    try:
        capture.offer(records(3))
        assert sink.written.wait(5) and len(sink.rows) == 3
    finally:
        capture.stop()


def test_what_is_queued_at_shutdown_is_written():
    sink = FakeSink()
    capture = PredictionCapture({"fake": sink}, ServiceMetrics(), batch_rows=1000, flush_s=3600)
    capture.start()
    capture.offer(records(7))
    capture.stop()
    assert len(sink.rows) == 7 and capture.queued == 0


def test_offers_never_wait_on_a_stuck_sink_and_drop_past_the_bound():
    # GIVEN a sink that hangs (storage unreachable) WHEN requests keep offering rows
    gate, metrics = threading.Event(), ServiceMetrics()
    capture = PredictionCapture({"fake": FakeSink(gate=gate)}, metrics, max_queue=20, batch_rows=5, flush_s=0.01)
    capture.start()
    try:
        started = time.perf_counter()
        for i in range(100):
            capture.offer(records(1, i))
        # THEN every offer returned at once, and what did not fit was counted
        assert time.perf_counter() - started < 0.5
        dropped = value(metrics, "inference_capture_dropped_rows_total", reason="queue_full", sink="fake")
        assert 100 - 20 - 5 <= dropped <= 100 - 20  # the writer may hold one batch of 5 outside the queue
    finally:
        gate.set()
        capture.stop()


def test_a_failed_write_is_counted_and_the_writer_goes_on():
    metrics = ServiceMetrics()
    capture = PredictionCapture({"fake": FakeSink(fail=True)}, metrics, batch_rows=2, flush_s=3600)
    capture.offer(records(5))
    assert capture.flush() == 0
    assert value(metrics, "inference_capture_dropped_rows_total", reason="write_failed", sink="fake") == 5
    assert capture.queued == 0


@pytest.mark.parametrize(("rate", "draws", "expected"), [(1.0, [], [0, 1, 2]), (0.5, [0.1, 0.9, 0.4], [0, 2])])
def test_rows_are_sampled_at_the_rate(rate, draws, expected):
    values = iter(draws)
    capture = PredictionCapture({"fake": FakeSink()}, ServiceMetrics(), rate=rate, sample=lambda: next(values))
    assert capture.sampled(3) == expected


def test_a_tabular_record_carries_the_row_its_prediction_and_confidence():
    [record] = records_for_rows(
        [{"amount": 1.0}, {"amount": 2.0}], [0.1, 0.8], [1], request_id="rid", at=AT, model="m", version=3, env="dev"
    )
    assert record == {
        "request_id": "rid",
        "row": 1,
        "served_at": AT,
        "model": "m",
        "version": 3,
        "env": "dev",
        "kind": "tabular",
        "features": {"amount": 2.0},
        "prediction": 0.8,
        "label": "1",
        "confidence": pytest.approx(0.8),
    }


def test_each_sink_gets_every_batch_and_a_failing_one_loses_only_its_own_copy():
    # GIVEN two sinks, one of them down
    metrics, healthy = ServiceMetrics(), FakeSink()
    capture = PredictionCapture({"parquet": healthy, "bigquery": FakeSink(fail=True)}, metrics, batch_rows=2)
    capture.offer(records(5))
    # WHEN the queue is flushed
    assert capture.flush() == 5
    # THEN the healthy sink has every row, and each sink is counted on its own
    assert [r["request_id"] for r in healthy.rows] == [f"r{i}" for i in range(5)]
    assert value(metrics, "inference_captured_rows_total", sink="parquet") == 5
    assert value(metrics, "inference_captured_rows_total", sink="bigquery") == 0
    assert value(metrics, "inference_capture_dropped_rows_total", reason="write_failed", sink="bigquery") == 5
    assert value(metrics, "inference_capture_dropped_rows_total", reason="write_failed", sink="parquet") == 0


def test_every_sinks_series_is_exported_at_zero_before_any_write():
    metrics = ServiceMetrics()
    PredictionCapture({"parquet": FakeSink(), "bigquery": FakeSink()}, metrics)
    exported = {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name.startswith(("inference_captured_rows_total", "inference_capture_dropped_rows_total"))
    }
    for sink in ("parquet", "bigquery"):
        assert ("inference_captured_rows_total", (("sink", sink),)) in exported
        for reason in ("queue_full", "write_failed"):
            assert ("inference_capture_dropped_rows_total", (("reason", reason), ("sink", sink))) in exported
