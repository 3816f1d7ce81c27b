"""The prediction capture's queue: bounded (a full queue drops and counts, never blocks), flushed on
size, on interval and at shutdown, a failed write counted and survived; a served batch's records, request
by request. A fake sink stands for storage."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_inference.capture import PredictionCapture, ServedBatch, captured_records
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


def batch(sizes: list[int], start: int = 0, picked: list[int] | None = None) -> ServedBatch:
    """One forward pass of requests `r{start}`, `r{start + 1}`, ... of `sizes` rows each."""
    rows = sum(sizes)
    inputs = [{"x": float(i)} for i in range(rows)]
    predictions = [0.25] * rows
    ids = [f"r{start + k}" for k in range(len(sizes))]
    return ServedBatch("tabular", "m", 1, AT, ids, sizes, inputs, predictions, picked)


def offer_each(capture: PredictionCapture, n: int, start: int = 0) -> None:
    """`n` one-row requests, each its own forward pass."""
    for i in range(n):
        capture.offer(batch([1], start + i))


def capture_of(sinks, metrics=None, **options) -> PredictionCapture:
    return PredictionCapture(sinks, metrics or ServiceMetrics(), env="dev", **options)


def value(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@settings(max_examples=60, deadline=None)
@given(bound=st.integers(1, 50), offers=st.lists(st.lists(st.integers(1, 4), max_size=5), max_size=12))
def test_the_queue_never_holds_more_than_its_bound_and_counts_every_drop(bound, offers):
    # GIVEN a capture whose writer is not running WHEN forward passes of requests of 1 to 4 rows offer them
    metrics, sink = ServiceMetrics(), FakeSink()
    capture = capture_of({"fake": sink}, metrics, max_queue=bound, batch_rows=1000, flush_s=3600)
    offered, requests, served = 0, 0, []
    for sizes in offers:
        capture.offer(batch(sizes, requests))
        served += [(f"r{requests + k}", row) for k, size in enumerate(sizes) for row in range(size)]
        offered, requests = offered + sum(sizes), requests + len(sizes)
        assert capture.queued <= bound
    # THEN what was kept plus what was dropped is what was offered, and the first rows are the ones kept
    kept = min(offered, bound)
    assert capture.queued == kept
    assert value(metrics, "inference_capture_dropped_rows_total", reason="queue_full", sink="fake") == offered - kept
    assert capture.flush() == kept
    assert [(r["request_id"], r["row"]) for r in sink.rows] == served[:kept]
    assert value(metrics, "inference_captured_rows_total", sink="fake") == kept


def test_a_full_batch_is_written_without_waiting_for_the_interval():
    sink = FakeSink()
    capture = capture_of({"fake": sink}, batch_rows=5, flush_s=3600)
    capture.start()
    try:
        offer_each(capture, 4)
        assert not sink.written.wait(0.3)  # under the batch size: it waits
        offer_each(capture, 8, 4)
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
    capture = capture_of({"fake": sink}, batch_rows=1000, flush_s=0.1)
    capture.start()
    try:
        offer_each(capture, 3)
        assert sink.written.wait(5) and len(sink.rows) == 3
    finally:
        capture.stop()


def test_what_is_queued_at_shutdown_is_written():
    sink = FakeSink()
    capture = capture_of({"fake": sink}, batch_rows=1000, flush_s=3600)
    capture.start()
    capture.offer(batch([3, 4]))
    capture.stop()
    assert len(sink.rows) == 7 and capture.queued == 0


def test_offers_never_wait_on_a_stuck_sink_and_drop_past_the_bound():
    # GIVEN a sink that hangs (storage unreachable) WHEN requests keep offering rows
    gate, metrics = threading.Event(), ServiceMetrics()
    capture = capture_of({"fake": FakeSink(gate=gate)}, metrics, max_queue=20, batch_rows=5, flush_s=0.01)
    capture.start()
    try:
        started = time.perf_counter()
        offer_each(capture, 100)
        # THEN every offer returned at once, and what did not fit was counted
        assert time.perf_counter() - started < 0.5
        dropped = value(metrics, "inference_capture_dropped_rows_total", reason="queue_full", sink="fake")
        assert 100 - 20 - 5 <= dropped <= 100 - 20  # the writer may hold one batch of 5 outside the queue
    finally:
        gate.set()
        capture.stop()


def test_a_failed_write_is_counted_and_the_writer_goes_on():
    metrics = ServiceMetrics()
    capture = capture_of({"fake": FakeSink(fail=True)}, metrics, batch_rows=2, flush_s=3600)
    offer_each(capture, 5)
    assert capture.flush() == 0
    assert value(metrics, "inference_capture_dropped_rows_total", reason="write_failed", sink="fake") == 5
    assert capture.queued == 0


@pytest.mark.parametrize(("rate", "draws", "expected"), [(1.0, [], None), (0.5, [0.1, 0.9, 0.4], [0, 2])])
def test_rows_are_sampled_at_the_rate(rate, draws, expected):
    values = iter(draws)
    capture = capture_of({"fake": FakeSink()}, rate=rate, sample=lambda: next(values))
    assert capture.sampled(3) == expected


def test_a_tabular_record_carries_the_row_its_prediction_and_confidence():
    served = ServedBatch("tabular", "m", 3, AT, ["rid"], [2], [{"amount": 1.0}, {"amount": 2.0}], [0.1, 0.8], [1])
    [record] = captured_records([served], "dev")
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


def test_an_image_record_carries_its_summary_file_size_label_and_probabilities():
    from mlops_inference.image_spec import ImagePrediction

    answered = ImagePrediction("abnormal", 0.9, {"normal": 0.1, "abnormal": 0.9}, summary={"intensity_mean": 0.4})
    refused = ImagePrediction("normal", math.nan, {"normal": math.nan, "abnormal": math.nan})
    served = ServedBatch("image", "ct", 2, AT, ["a", "b"], [1, 1], [1234, 99], [answered, refused])
    [record] = captured_records([served], "prod")  # the request whose prediction was not finite was refused
    assert (record["request_id"], record["kind"], record["env"]) == ("a", "image", "prod")
    assert record["features"] == {"intensity_mean": 0.4, "file_bytes": 1234}
    assert (record["prediction"], record["label"], record["confidence"]) == (0.9, "abnormal", 0.9)


def test_each_sink_gets_every_batch_and_a_failing_one_loses_only_its_own_copy():
    # GIVEN two sinks, one of them down
    metrics, healthy = ServiceMetrics(), FakeSink()
    capture = capture_of({"parquet": healthy, "bigquery": FakeSink(fail=True)}, metrics, batch_rows=2)
    offer_each(capture, 5)
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
    capture_of({"parquet": FakeSink(), "bigquery": FakeSink()}, metrics)
    exported = {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name.startswith(("inference_captured_rows_total", "inference_capture_dropped_rows_total"))
    }
    for sink in ("parquet", "bigquery"):
        assert ("inference_captured_rows_total", (("sink", sink),)) in exported
        for reason in ("queue_full", "write_failed", "pack_failed"):
            assert ("inference_capture_dropped_rows_total", (("reason", reason), ("sink", sink))) in exported


@settings(max_examples=200, deadline=None)
@given(data=st.data(), sizes=st.lists(st.integers(1, 5), min_size=1, max_size=8))
def test_a_served_batch_records_each_picked_row_of_each_served_request(data, sizes):
    # GIVEN a forward pass over requests of several rows, some rows sampled, some predictions not finite
    rows = sum(sizes)
    numbers = st.one_of(st.floats(0, 1), st.sampled_from([math.nan, math.inf, -math.inf]))
    predictions = data.draw(st.lists(numbers, min_size=rows, max_size=rows))
    picked = data.draw(st.none() | st.sets(st.integers(0, rows - 1)).map(sorted))
    served = dataclasses.replace(batch(sizes, picked=picked), predictions=predictions)
    # WHEN it becomes records
    records = captured_records([served], "dev")
    # THEN each picked row of a request whose every prediction is finite (one the service answered) is
    # recorded under its request's id and its index within that request, in order
    expected, start = [], 0
    for k, size in enumerate(sizes):
        answered = all(math.isfinite(p) for p in predictions[start : start + size])
        for i in range(start, start + size):
            if answered and (picked is None or i in picked):
                expected.append((f"r{k}", i - start, {"x": float(i)}, predictions[i]))
        start += size
    assert [(r["request_id"], r["row"], r["features"], r["prediction"]) for r in records] == expected
    assert all(r["env"] == "dev" and r["model"] == "m" and r["version"] == 1 for r in records)
    picked_rows = rows if picked is None else len(picked)
    assert len(records) <= served.offered == picked_rows


def test_a_batch_that_cannot_be_packed_is_counted_and_raises_nothing(caplog):
    # GIVEN a forward pass whose answer is not what the capture knows (a bug of ours, not the request's)
    metrics = ServiceMetrics()
    capture = capture_of({"fake": FakeSink()}, metrics, pack_rows=1)
    broken = dataclasses.replace(batch([1, 1]), predictions=["not a number", 0.5])
    # WHEN it is offered THEN nothing is queued or raised, and the loss is counted and logged
    assert capture.offer(broken) == 2 and capture.queued == 0
    assert value(metrics, "inference_capture_dropped_rows_total", reason="pack_failed", sink="fake") == 2
    assert "could not be packed" in caplog.text


@settings(max_examples=100, deadline=None)
@given(offers=st.lists(st.lists(st.integers(1, 4), min_size=1, max_size=4), max_size=20), pack_rows=st.integers(1, 9))
def test_passes_packed_together_or_alone_give_the_same_records(offers, pack_rows):
    # GIVEN forward passes of requests offered one after another, packed every `pack_rows` rows
    sink = FakeSink()
    capture = capture_of({"fake": sink}, pack_rows=pack_rows, batch_rows=5, flush_s=3600)
    passes, requests = [], 0
    for k, sizes in enumerate(offers):
        served = dataclasses.replace(batch(sizes, requests), served_at=AT + timedelta(seconds=k), version=1 + k % 2)
        passes.append(served)
        requests += len(sizes)
        capture.offer(served)
    # WHEN every held row is written THEN the records are each pass's own, in order, whatever was packed with what
    assert capture.flush() == sum(map(sum, offers)) and capture.queued == 0
    assert sink.rows == [record for served in passes for record in captured_records([served], "dev")]
