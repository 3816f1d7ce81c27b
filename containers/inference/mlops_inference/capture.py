"""Prediction capture: what the service answered, recorded off the request path for drift on served traffic.

Each forward pass hands the capture what it served (`ServedBatch`: the batch's requests, their ids, rows
or image summaries and predictions), from the thread that ran it: the request handlers on the event loop do
nothing for capture. `PredictionCapture.offer` packs the rows there (`ServedBatch.chunk`: a few arrays and
strings, so nothing of the requests stays alive), never blocks and never waits on storage: the chunk joins
a bounded queue (rows past the bound are dropped and counted in /metrics,
`inference_capture_dropped_rows{reason="queue_full"}`); a writer thread hands the queued chunks to each
`PredictionSink` (Parquet in a bucket, or BigQuery) when `batch_rows` are waiting, every `flush_s`, and
at shutdown. A write that fails drops its rows (counted, reason
`write_failed`): capture is monitoring, never a reason to refuse a prediction.

Why so: on the demo model (one row per request, the event loop its bottleneck) a record built and queued
by each request's handler, written 1,000 at a time, cost 8 to 10% of the throughput at 32 clients; handed
over per forward pass, packed and written 10,000 at a time, 5% (docs/capture-cost.md,
`python benchmarks/inference.py --capture`).

One record per served row or image (`ServedBatch.chunk`, `captured_records`): request id, row, time,
model, version, env, kind, the input features (an image's summary, never its pixels), `prediction`,
`label` and `confidence`. A request the service refused for a prediction that was not finite was not
served, and is not recorded.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import random
import threading
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.captured_records import CapturedChunk, CapturedRecords, Packed, feature_columns

if TYPE_CHECKING:
    from mlops_inference.image_spec import ImageInput, ImagePrediction
    from mlops_inference.metrics import ServiceMetrics
    from shared.ports import PredictionSink

log = logging.getLogger(__name__)
HISTOGRAM_BINS = 8  # an image's intensity (CT: HU within the window) histogram, as shares


@dataclasses.dataclass(frozen=True, slots=True)
class ServedBatch:
    """One forward pass as served: its requests in order (`request_ids`, `sizes`: how many rows or images
    each brought) and, per row of the batch, the input (`tabular`: the row as sent; `image`: the file's size
    in bytes, the summary features riding on its prediction) and the prediction (a probability, or an
    ImagePrediction). `picked`: the rows of the batch to record, ascending (None: all)."""

    kind: str
    model: str
    version: int
    served_at: datetime
    request_ids: Sequence[str]
    sizes: Sequence[int]
    inputs: Sequence[Any]
    predictions: Sequence[Any]
    picked: Sequence[int] | None = None

    def chunk(self, env: str) -> CapturedChunk:
        """The batch's rows to record, packed: nothing of the requests stays alive. A request with a
        prediction that was not finite was refused (422), not served, and gives none."""
        tabular = self.kind == "tabular"
        finite: Callable[[Any], bool] = math.isfinite if tabular else _image_finite
        if self.picked is None and all(map(finite, self.predictions)):  # the usual batch: every row
            if len(self.sizes) == len(self.predictions):  # one row per request
                request_ids, rows = self.request_ids, [0] * len(self.predictions)
            else:
                request_ids = [i for i, size in zip(self.request_ids, self.sizes, strict=True) for _ in range(size)]
                rows = [row for size in self.sizes for row in range(size)]
            inputs, predictions = self.inputs, self.predictions
        else:
            kept, request_ids, rows = self._kept(finite)
            inputs = [self.inputs[i] for i in kept]
            predictions = [self.predictions[i] for i in kept]
        if tabular:  # the fields' kinds are known: packed without looking at each value
            n = len(rows)
            columns = {
                "request_id": Packed("s", "\0".join(request_ids), n),  # ours: hex, digits and dashes
                "row": Packed("q", array("q", rows), n),
                "prediction": Packed("d", array("d", predictions), n),
                "label": Packed("o", ["1" if p >= 0.5 else "0" for p in predictions], n),  # two constants
                "confidence": Packed("d", array("d", [p if p >= 0.5 else 1.0 - p for p in predictions]), n),
            }
            features = {name: Packed.of(values) for name, values in feature_columns(inputs).items()}
            return CapturedChunk(self.served_at, self.model, self.version, env, self.kind, columns, features)
        return CapturedChunk.of(
            request_ids=request_ids,
            rows=rows,
            served_at=self.served_at,
            model=self.model,
            version=self.version,
            env=env,
            kind=self.kind,
            features=[{**(p.summary or {}), "file_bytes": size} for p, size in zip(predictions, inputs, strict=True)],
            # the last label's probability: a binary model's positive class
            predictions=[list(p.probabilities.values())[-1] if p.probabilities else None for p in predictions],
            labels=[p.label for p in predictions],
            confidences=[float(p.confidence) for p in predictions],
        )

    def _kept(self, finite: Callable[[Any], bool]) -> tuple[list[int], list[str], list[int]]:
        """The rows of the batch to record (picked, of a request the service answered), each one's request
        id and its index within its request."""
        picked = self.picked
        kept: list[int] = []
        request_ids: list[str] = []
        rows: list[int] = []
        start = cursor = 0
        for request_id, size in zip(self.request_ids, self.sizes, strict=True):
            end = start + size
            if picked is None:
                mine: Sequence[int] = range(start, end)
            else:
                first = cursor
                while cursor < len(picked) and picked[cursor] < end:
                    cursor += 1
                mine = picked[first:cursor]
            if mine and all(map(finite, self.predictions[start:end])):
                kept += mine
                request_ids += [request_id] * len(mine)
                rows += [i - start for i in mine]
            start = end
        return kept, request_ids, rows


def captured_records(batches: Sequence[ServedBatch], env: str) -> CapturedRecords:
    """The batches' rows to record, as the sinks take them."""
    return CapturedRecords([batch.chunk(env) for batch in batches])


def _image_finite(prediction: ImagePrediction) -> bool:
    return prediction.finite


class PredictionCapture:
    """The bounded queue and its writer. `sinks` by name (`parquet`, `bigquery`): each batch goes to every
    one, and each is counted on its own (`sink` label), so a sink that fails loses only its own copy.
    `max_queue` and `batch_rows` count rows to record."""

    def __init__(
        self,
        sinks: Mapping[str, PredictionSink],
        metrics: ServiceMetrics,
        *,
        env: str,
        rate: float = 1.0,
        max_queue: int = 50_000,
        batch_rows: int = 10_000,
        flush_s: float = 10.0,
        sample: Callable[[], float] = random.random,
    ) -> None:
        self.sinks, self.metrics, self.env = dict(sinks), metrics, env
        for name in self.sinks:  # every sink's series from the start, at 0, not from its first write or drop
            metrics.captured.labels(name)
            for reason in ("queue_full", "write_failed", "pack_failed"):
                metrics.capture_dropped.labels(reason, name)
        self.rate, self.max_queue, self.batch_rows, self.flush_s = rate, max_queue, batch_rows, flush_s
        self._sample = sample
        self._queue: collections.deque[CapturedChunk] = collections.deque()
        self._rows = 0  # queued rows to record: what max_queue bounds
        metrics.capture_queue.set_function(lambda: self._rows)  # read at scrape, not set per forward pass
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._thread: threading.Thread | None = None

    def sampled(self, count: int) -> list[int] | None:
        """Which of `count` rows to capture (each with probability `rate`); None: all of them."""
        if self.rate >= 1.0:
            return None
        return [i for i in range(count) if self._sample() < self.rate]

    def offer(self, batch: ServedBatch) -> int:
        """Queue the batch's rows to record, or as many as fit: the rest are dropped and counted. Called on
        the forward's thread, which packs them (`ServedBatch.chunk`); never blocks on storage (the lock is
        held only to append, or by the writer to take from the queue)."""
        try:
            chunk = batch.chunk(self.env)
        except Exception:  # a bug of ours, never the request's failure: its rows are lost, and counted
            log.exception("prediction capture: a batch of %s v%d could not be packed", batch.model, batch.version)
            for name in self.sinks:
                self.metrics.capture_dropped.labels("pack_failed", name).inc(len(batch.predictions))
            return 0
        offered = len(chunk)
        if not offered:
            return 0
        with self._lock:
            kept = min(max(0, self.max_queue - self._rows), offered)
            if kept:
                self._queue.append(chunk if kept == offered else chunk.head(kept))
                self._rows += kept
                if self._rows >= self.batch_rows:
                    self._wake.notify()
        dropped = offered - kept
        if dropped:  # lost to every sink
            for name in self.sinks:
                self.metrics.capture_dropped.labels("queue_full", name).inc(dropped)
        return kept

    @property
    def queued(self) -> int:
        return self._rows

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="prediction-capture", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Flush what is queued and stop the writer (at shutdown)."""
        with self._lock:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.flush()  # anything offered after the writer's last look

    def _take(self, partial: bool) -> list[CapturedChunk]:
        """Queued batches holding at least `batch_rows` rows (a little more: a batch is not split), or with
        `partial` whatever is queued; none when fewer are queued and not `partial`."""
        with self._lock:
            if not self._queue or (not partial and self._rows < self.batch_rows):
                return []
            taken, rows = [], 0
            while self._queue and rows < self.batch_rows:
                chunk = self._queue.popleft()
                taken.append(chunk)
                rows += len(chunk)
            self._rows -= rows
        return taken

    def flush(self, *, partial: bool = True) -> int:
        """Write what is queued now, in writes of about `batch_rows` rows (with `partial` False, full ones
        only: the rest waits for the interval, so a busy service writes few, full files); the rows written,
        summed over the sinks."""
        written = 0
        while taken := self._take(partial):
            records = CapturedRecords(taken)
            if not records:
                continue
            for name, sink in self.sinks.items():
                try:
                    sink.write(records)
                except Exception as exc:  # storage down, quota, a bad row: the rows are lost, the service is not
                    log.warning("prediction capture: %d rows not written to %s: %r", len(records), name, exc)
                    self.metrics.capture_dropped.labels("write_failed", name).inc(len(records))
                    continue
                self.metrics.captured.labels(name).inc(len(records))
                written += len(records)
        return written

    def _run(self) -> None:
        deadline = time.monotonic() + self.flush_s
        while True:
            with self._lock:
                while not self._stopping and self._rows < self.batch_rows:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._wake.wait(left)
                stopping = self._stopping
            due = stopping or time.monotonic() >= deadline
            self.flush(partial=due)
            if due:
                deadline = time.monotonic() + self.flush_s
            if stopping:
                return


def image_summaries(batch: Any, spec: ImageInput) -> list[dict[str, float]]:
    """Summary features of each image of a batch ([n, channels, height, width], as the model saw them), in
    the input's own units: the pixel intensity (`value / scale`, in [0, 1] for 8-bit files) or, with a CT
    window, Hounsfield units clipped to the window. Each image's mean and std, and the share of its pixels
    in each of HISTOGRAM_BINS equal bins of [0, 1] or of the window (a value on the top edge in the last
    bin). No pixel is kept.

    Over the whole batch in a dozen torch ops, on the thread that ran the model: the same reductions per
    image in the decoding pool (torch or numpy alike) cost 0.6 ms of CPU per CT slice in the service, a
    fifth to a quarter of the CT model's throughput at 32 clients, most of it threads handing the GIL back
    and forth around each small op. The histogram's bins are computed in float32: a value within float32
    rounding of a bin edge may fall in the bin beside it."""
    import torch

    n, channels = batch.shape[0], batch.shape[1]
    mean = spec.mean[:channels] if len(spec.mean) >= channels else spec.mean * channels
    std = spec.std[:channels] if len(spec.std) >= channels else spec.std * channels
    low, width = 0.0, 1.0
    if spec.window is not None:
        low, width = spec.window.center - spec.window.width / 2, float(spec.window.width)
    # value = low + width * (pixel * std + mean), per channel
    scale = torch.tensor([s * width for s in std], dtype=torch.float32).view(1, -1, 1, 1)
    offset = torch.tensor([low + m * width for m in mean], dtype=torch.float32).view(1, -1, 1, 1)
    values = torch.addcmul(offset, batch.float(), scale).reshape(n, -1)
    # two passes (mean, then the squared deviations): a tenth of torch.var_mean's time here, and as exact
    average = values.mean(dim=1, keepdim=True)
    deviations = values - average
    variance = (deviations * deviations).mean(dim=1)
    # each value's bin, (value - low) * bins / width clamped into [0, bins - 1] and truncated, counted per
    # image with one scatter_add (a fifth of bincount's time here)
    per_width = HISTOGRAM_BINS / width
    bins = values.mul_(per_width).sub_(low * per_width).clamp_(0, HISTOGRAM_BINS - 1).to(torch.int64)
    counts = torch.zeros(n, HISTOGRAM_BINS).scatter_add_(1, bins, torch.ones(1, 1).expand_as(bins))
    shares = (counts / max(1, bins.shape[1])).tolist()
    unit = "hu" if spec.window is not None else "intensity"
    out = []
    for i, (m, v) in enumerate(zip(average.flatten().tolist(), variance.tolist(), strict=True)):
        summary = {f"{unit}_mean": m, f"{unit}_std": max(v, 0.0) ** 0.5}
        summary.update((f"{unit}_hist_{b}", share) for b, share in enumerate(shares[i]))
        out.append(summary)
    return out
