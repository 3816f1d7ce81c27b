"""The batch job for image models: a folder or prefix of image files (DICOM, PNG, JPEG; local or gs://) scored
`batch_size` files per forward pass, each file preprocessed exactly as the service's /predict does
(`image_decode.decode` under the same caps), so a file scores the same in the job as when uploaded.

Every file gives one output row, in name order: `file` (its URI), `label`, `confidence`, `probabilities` (JSON),
`areas` (JSON, segmentation only), `model`, `model_version`, `predicted_at`, `error`. A file the service would
refuse (not an image by its first bytes, corrupt, too large, a compressed DICOM without its decoder) comes out with
no label and the service's reason in `error`, as a bad row does in the tabular job. Files are split among tasks as
Parquet row groups are (batch_shards.py): task i of n scores its contiguous share of the sorted names.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlops_inference.batch_rows import TIMESTAMP, BatchInputError, BatchReport, BatchSink, aware_utc, utc_now
from mlops_inference.batch_shards import ONE_TASK, Shard
from mlops_inference.image_decode import DecodeLimits, ImageRejected, decode
from mlops_inference.image_spec import ImageSpec

if TYPE_CHECKING:
    from mlops_inference.model import LoadedModel
    from shared.ports import ObjectStore

DEFAULT_IMAGE_BATCH_SIZE = 32  # files per forward pass: the service's INFERENCE_MAX_BATCH_SIZE
DEFAULT_LIMITS = DecodeLimits(max_file_bytes=16 * 1024 * 1024, max_pixels=4096 * 4096)  # the service's defaults
SKIPPED_SUFFIXES = (".parquet", ".json")  # not inputs: predictions or a manifest written beside the files


def _wanted(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return bool(base) and not base.startswith(".") and not base.lower().endswith(SKIPPED_SUFFIXES)


class ImageFiles:
    """Image files under a local folder or a bucket prefix (`ObjectStore`: a local bucket folder embedded, GCS
    in the cloud, each object read at the generation its listing showed), sorted by name, this task's share."""

    def __init__(
        self,
        *,
        folder: Path | None = None,
        store: ObjectStore | None = None,
        bucket: str = "",
        prefix: str = "",
        shard: Shard = ONE_TASK,
        max_file_bytes: int = DEFAULT_LIMITS.max_file_bytes,
    ) -> None:
        if (folder is None) == (store is None):
            raise ValueError("give a folder or an object store")
        self._folder, self._store, self.bucket, self.prefix = folder, store, bucket, prefix
        self.shard, self._max_file_bytes = shard, max_file_bytes
        self.uri = str(folder) if folder is not None else f"gs://{bucket}/{prefix}"
        self._listed: list[tuple[str, int | None]] | None = None

    def all_files(self) -> list[tuple[str, int | None]]:
        """(name, generation) of every input file, sorted: the same list in every task."""
        if self._listed is None:
            if self._folder is not None:
                if not self._folder.is_dir():
                    raise BatchInputError(f"{self._folder} is not a folder")
                names = [p.relative_to(self._folder).as_posix() for p in self._folder.rglob("*") if p.is_file()]
                self._listed = sorted((n, None) for n in names if _wanted(n))
            else:
                assert self._store is not None
                listing = self._store.list_objects(self.bucket, self.prefix)
                self._listed = sorted((o.name, o.generation) for o in listing if _wanted(o.name))
            if not self._listed:
                raise BatchInputError(f"{self.uri}: no image file under it")
        return self._listed

    def files(self) -> list[tuple[str, int | None]]:
        return self.shard.take(self.all_files())

    def name_of(self, name: str) -> str:
        return str(self._folder / name) if self._folder is not None else f"gs://{self.bucket}/{name}"

    def read(self, name: str, generation: int | None) -> bytes | None:
        """The file's bytes, at most one past the cap (enough for decode to refuse it): None when gone."""
        if self._folder is not None:
            with open(self._folder / name, "rb") as handle:
                return handle.read(self._max_file_bytes + 1)
        assert self._store is not None
        return self._store.read_head(self.bucket, name, generation, self._max_file_bytes + 1)


def image_spec(model: LoadedModel) -> ImageSpec:
    if not isinstance(model.spec, ImageSpec):
        raise BatchInputError(f"{model.name} v{model.version} is a tabular model: give it Parquet or BigQuery rows")
    return model.spec


def image_output_schema(model: LoadedModel, uri: str) -> pa.Schema:
    fields = [
        pa.field("file", pa.string()),
        pa.field("label", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("probabilities", pa.string()),
        pa.field("areas", pa.string()),
        pa.field("model", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("predicted_at", TIMESTAMP),
        pa.field("error", pa.string()),
    ]
    about = {"model": model.name, "model_version": model.version, "input": uri, "output": image_spec(model).output}
    return pa.schema(fields, metadata={"mlops_events.batch_job": json.dumps(about, default=_jsonable)})


def _jsonable(value: Any) -> Any:
    return value.to_json() if hasattr(value, "to_json") else str(value)


@dataclass
class _Scored:
    file: str
    label: str | None = None
    confidence: float | None = None
    probabilities: str | None = None
    areas: str | None = None
    error: str | None = None


def run_image_batch(
    model: LoadedModel,
    source: ImageFiles,
    sink: BatchSink,
    *,
    batch_size: int = DEFAULT_IMAGE_BATCH_SIZE,
    limits: DecodeLimits = DEFAULT_LIMITS,
    decode_threads: int = 2,
    clock: Callable[[], datetime] = utc_now,
    timer: Callable[[], float] = time.monotonic,
) -> BatchReport:
    """One output row per file of this task's share, in name order; on any failure the sink is aborted."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    spec = image_spec(model)
    started, predicted_at = timer(), aware_utc(clock())
    files = source.files()
    schema = image_output_schema(model, source.uri)
    written = invalid = batches = 0
    pool = concurrent.futures.ThreadPoolExecutor(max(1, decode_threads), thread_name_prefix="batch-decode")
    try:
        sink.open(schema)
        for chunk in _chunks(files, batch_size):
            scored = _score(model, spec, source, chunk, limits, pool)
            sink.write(_record_batch(model, scored, schema, predicted_at))
            written, batches = written + len(scored), batches + 1
            invalid += sum(1 for s in scored if s.error is not None)
        output = sink.commit()
    except BaseException:
        sink.abort()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return BatchReport(
        model=model.name,
        model_version=model.version,
        input=source.uri,
        output=output,
        rows_read=len(files),
        rows_written=written,
        rows_invalid=invalid,
        batches=batches,
        batch_size=batch_size,
        predicted_at=predicted_at,
        seconds=timer() - started,
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _score(
    model: LoadedModel,
    spec: ImageSpec,
    source: ImageFiles,
    chunk: list[tuple[str, int | None]],
    limits: DecodeLimits,
    pool: concurrent.futures.Executor,
) -> list[_Scored]:
    """Decode the chunk's files in the pool, then one forward pass for those that decoded."""

    def load(item: tuple[str, int | None]) -> Any:
        data = source.read(*item)
        if data is None:
            return ImageRejected(404, "gone", "the file was deleted while the job ran")
        try:
            return decode(data, spec.input, limits)
        except ImageRejected as refused:
            return refused

    decoded = list(pool.map(load, chunk))
    scored = [_Scored(source.name_of(name)) for name, _ in chunk]
    good = [i for i, d in enumerate(decoded) if not isinstance(d, ImageRejected)]
    for i, d in enumerate(decoded):
        if isinstance(d, ImageRejected):
            scored[i].error = f"{d.kind}: {d.message}"
    if good:
        for i, prediction in zip(good, model.predict_images([decoded[i] for i in good]), strict=True):
            if not prediction.finite:
                scored[i].error = "the model gave no finite prediction for this file"
                continue
            scored[i].label, scored[i].confidence = prediction.label, float(prediction.confidence)
            scored[i].probabilities = json.dumps(prediction.probabilities, allow_nan=False)
            if prediction.areas is not None:
                scored[i].areas = json.dumps(prediction.areas, allow_nan=False)
    return scored


def _record_batch(
    model: LoadedModel, scored: list[_Scored], schema: pa.Schema, predicted_at: datetime
) -> pa.RecordBatch:
    n = len(scored)
    confidence = [s.confidence if s.confidence is not None and math.isfinite(s.confidence) else None for s in scored]
    columns = [
        pa.array([s.file for s in scored], pa.string()),
        pa.array([s.label for s in scored], pa.string()),
        pa.array(confidence, pa.float64()),
        pa.array([s.probabilities for s in scored], pa.string()),
        pa.array([s.areas for s in scored], pa.string()),
        pa.array([model.name] * n, pa.string()),
        pa.array([model.version] * n, pa.int64()),
        pa.array([predicted_at] * n, TIMESTAMP),
        pa.array([s.error for s in scored], pa.string()),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
