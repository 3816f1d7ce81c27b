"""Prediction capture: what the service answered, recorded off the request path for drift on served traffic.

Each forward pass hands the capture what it served (`ServedBatch`: the batch's requests, their ids, rows
or image summaries and predictions), from the thread that ran it: the request handlers on the event loop do
nothing for capture. `PredictionCapture.offer` holds the passes there and packs them together every
`pack_rows` rows (`pack`: a few arrays and strings, so nothing of the requests stays alive); it never
blocks and never waits on storage. Rows held are bounded (rows past the bound are dropped and counted in
/metrics, `inference_capture_dropped_rows{reason="queue_full"}`); a writer thread hands the packed chunks
to each `PredictionSink` (Parquet in a bucket, or BigQuery) when `batch_rows` are waiting, every
`flush_s`, and at shutdown. A write that fails drops its rows (counted, reason `write_failed`): capture is
monitoring, never a reason to refuse a prediction.

Why so: on the demo model (one row per request, the event loop its bottleneck) a record built and queued
by each request's handler, written 1,000 at a time, cost 8 to 10% of the throughput at 32 clients; handed
over per forward pass, packed 256 rows at a time and written 10,000 at a time, 3% (docs/capture-cost.md,
`python benchmarks/inference.py --capture`).

One record per served row or image (`pack`, `captured_records`): request id, row, time,
model, version, env, kind, the input features (an image's summary, never its pixels), `prediction`,
`label` and `confidence`. A request the service refused for a prediction that was not finite was not
served, and is not recorded.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import math
import random
import threading
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.captured_records import CapturedChunk, CapturedRecords, Packed, feature_columns, microseconds

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

    @property
    def offered(self) -> int:
        """At most the rows it records: its picked rows (a refused request's among them)."""
        return len(self.predictions) if self.picked is None else len(self.picked)

    def keeping(self, count: int) -> ServedBatch:
        """The same batch recording only its first `count` picked rows (a queue with less room)."""
        picked = range(len(self.predictions)) if self.picked is None else self.picked
        return dataclasses.replace(self, picked=list(picked[:count]))

    def served_rows(self) -> tuple[Sequence[str], Sequence[int], Sequence[Any], Sequence[Any]]:
        """Per row to record: its request id, its index within its request, its input and prediction. A
        request with a prediction that was not finite was refused (422), not served, and gives none."""
        finite: Callable[[Any], bool] = math.isfinite if self.kind == "tabular" else _image_finite
        if self.picked is None and all(map(finite, self.predictions)):  # the usual batch: every row
            if len(self.sizes) == len(self.predictions):  # one row per request
                return self.request_ids, [0] * len(self.sizes), self.inputs, self.predictions
            request_ids = [i for i, size in zip(self.request_ids, self.sizes, strict=True) for _ in range(size)]
            rows = [row for size in self.sizes for row in range(size)]
            return request_ids, rows, self.inputs, self.predictions
        kept, request_ids, rows = self._kept(finite)
        return request_ids, rows, [self.inputs[i] for i in kept], [self.predictions[i] for i in kept]

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


def pack(batches: Sequence[ServedBatch], env: str) -> list[CapturedChunk]:
    """The batches' rows to record, packed: nothing of the requests stays alive. A chunk per run of
    batches of one model, version and kind, so a few dozen forward passes cost one packing of each column."""
    chunks = []
    for (kind, model, version), run in itertools.groupby(batches, key=lambda b: (b.kind, b.model, b.version)):
        request_ids: list[str] = []
        rows: list[int] = []
        inputs: list[Any] = []
        predictions: list[Any] = []
        micros = array("q")
        for batch in run:
            ids, numbers, ins, outs = batch.served_rows()
            request_ids += ids
            rows += numbers
            inputs += ins
            predictions += outs
            micros += array("q", [microseconds(batch.served_at)]) * len(numbers)
        if rows:
            n = len(rows)
            fields, features = (_tabular if kind == "tabular" else _images)(inputs, predictions)
            columns = {
                "request_id": Packed("s", "\0".join(request_ids), n),  # ours: hex, digits and dashes
                "row": Packed("q", array("q", rows), n),
                **fields,
            }
            chunks.append(CapturedChunk(model, version, env, kind, Packed("q", micros, n), columns, features))
    return chunks


def _tabular(inputs: list[Mapping[str, Any]], predictions: list[float]) -> tuple[dict[str, Packed], dict[str, Packed]]:
    """The rows as sent, the probability, its label at 0.5 and its confidence; their kinds are known, so
    packed without looking at each value but the features'."""
    n = len(predictions)
    fields = {
        "prediction": Packed("d", array("d", predictions), n),
        "label": Packed("o", ["1" if p >= 0.5 else "0" for p in predictions], n),  # two constants
        "confidence": Packed("d", array("d", [p if p >= 0.5 else 1.0 - p for p in predictions]), n),
    }
    return fields, {name: Packed.of(values) for name, values in feature_columns(inputs).items()}


def _images(sizes: list[int], predictions: list[ImagePrediction]) -> tuple[dict[str, Packed], dict[str, Packed]]:
    """Each image's summary and file size; the top label, the last label's probability (a binary model's
    positive class) and the top class's probability."""
    fields = {
        "prediction": Packed.of([list(p.probabilities.values())[-1] if p.probabilities else None for p in predictions]),
        "label": Packed.of([p.label for p in predictions]),
        "confidence": Packed.of([float(p.confidence) for p in predictions]),
    }
    summaries = [{**(p.summary or {}), "file_bytes": size} for p, size in zip(predictions, sizes, strict=True)]
    return fields, {name: Packed.of(values) for name, values in feature_columns(summaries).items()}


def captured_records(batches: Sequence[ServedBatch], env: str) -> CapturedRecords:
    """The batches' rows to record, as the sinks take them."""
    return CapturedRecords(pack(batches, env))


def _image_finite(prediction: ImagePrediction) -> bool:
    return prediction.finite


PACK_ROWS = 256  # forward passes packed together: a pass of the demo model is about 15 rows at 32 clients


class PredictionCapture:
    """The bounded queue and its writer. `sinks` by name (`parquet`, `bigquery`): each batch goes to every
    one, and each is counted on its own (`sink` label), so a sink that fails loses only its own copy.
    `max_queue` and `batch_rows` count rows to record. Offered forward passes wait, as they are, until
    `pack_rows` rows have come (a few dozen milliseconds of a busy service's traffic), then are packed
    together on the thread that offered the last one; the writer packs what waits when its interval
    comes."""

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
        pack_rows: int = PACK_ROWS,
        sample: Callable[[], float] = random.random,
    ) -> None:
        self.sinks, self.metrics, self.env = dict(sinks), metrics, env
        for name in self.sinks:  # every sink's series from the start, at 0, not from its first write or drop
            metrics.captured.labels(name)
            for reason in ("queue_full", "write_failed", "pack_failed"):
                metrics.capture_dropped.labels(reason, name)
        self.rate, self.max_queue, self.batch_rows, self.flush_s = rate, max_queue, batch_rows, flush_s
        self.pack_rows = min(pack_rows, batch_rows)  # a full write never waits for the packing
        self._sample = sample
        self._pending: list[ServedBatch] = []  # offered, not packed yet
        self._pending_rows = 0
        self._queue: collections.deque[CapturedChunk] = collections.deque()  # packed, to write
        self._queue_rows = 0
        self._rows = 0  # every row held (waiting, being packed, queued): what max_queue bounds
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
        """Hold the batch's rows to record, or as many as fit: the rest are dropped and counted. Called on
        the forward's thread; never blocks on storage (the lock is held only to append, or by the writer to
        take from the queue)."""
        offered = batch.offered
        if not offered:
            return 0
        ready: list[ServedBatch] = []
        with self._lock:
            kept = min(max(0, self.max_queue - self._rows), offered)
            if kept:
                self._pending.append(batch if kept == offered else batch.keeping(kept))
                self._pending_rows += kept
                self._rows += kept
                if self._pending_rows >= self.pack_rows:
                    ready, self._pending, self._pending_rows = self._pending, [], 0
        dropped = offered - kept
        if dropped:  # lost to every sink
            for name in self.sinks:
                self.metrics.capture_dropped.labels("queue_full", name).inc(dropped)
        if ready:
            self._pack(ready)
        return kept

    def _pack(self, batches: list[ServedBatch]) -> None:
        """Pack held batches and queue them (outside the lock: offers do not wait for it)."""
        held = sum(batch.offered for batch in batches)
        try:
            chunks = pack(batches, self.env)
        except Exception:  # a bug of ours, never the requests' failure: their rows are lost, and counted
            log.exception("prediction capture: %d rows could not be packed", held)
            for name in self.sinks:
                self.metrics.capture_dropped.labels("pack_failed", name).inc(held)
            chunks = []
        packed = sum(map(len, chunks))
        with self._lock:
            self._queue.extend(chunks)
            self._queue_rows += packed
            self._rows -= held - packed  # a refused request's rows were held, not recorded
            if self._queue_rows >= self.batch_rows:
                self._wake.notify()

    def _pack_waiting(self) -> None:
        with self._lock:
            ready, self._pending, self._pending_rows = self._pending, [], 0
        if ready:
            self._pack(ready)

    @property
    def queued(self) -> int:
        """Rows held: waiting to be packed, or packed and waiting for the writer."""
        return self._rows

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="prediction-capture", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Flush what is held and stop the writer (at shutdown)."""
        with self._lock:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.flush()  # anything offered after the writer's last look

    def _take(self, partial: bool) -> list[CapturedChunk]:
        """Queued chunks holding at least `batch_rows` rows (a little more: a chunk is not split), or with
        `partial` whatever is queued; none when fewer are queued and not `partial`."""
        with self._lock:
            if not self._queue or (not partial and self._queue_rows < self.batch_rows):
                return []
            taken, rows = [], 0
            while self._queue and rows < self.batch_rows:
                chunk = self._queue.popleft()
                taken.append(chunk)
                rows += len(chunk)
            self._queue_rows -= rows
            self._rows -= rows
        return taken

    def flush(self, *, partial: bool = True) -> int:
        """Write what is queued now, in writes of about `batch_rows` rows (with `partial` False, full ones
        only: the rest waits for the interval, so a busy service writes few, full files; with `partial`,
        what waits to be packed too); the rows written, summed over the sinks."""
        if partial:
            self._pack_waiting()
        written = 0
        while taken := self._take(partial):
            records = CapturedRecords(taken)
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
                while not self._stopping and self._queue_rows < self.batch_rows:
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
