"""The batch prediction job (a Cloud Run job): pull rows, predict, push the predictions, one batch at a time.

Memory is bounded by the batch size whatever the input's size: a source yields Arrow record batches of at most
`batch_size` rows (Parquet: `iter_batches` with a 1 MiB read buffer per column, never a whole row group; BigQuery:
one result page), the job re-cuts them to exactly `batch_size` (files end mid-batch), predicts, and hands each
batch to the sink, which writes it through (Parquet: one row group per batch; BigQuery: streaming inserts).

Rows the model cannot take (`ModelSpec.validate`: a missing value, NaN or inf, a wrong type) are not dropped: they
come out with a null prediction and an `error` naming the field, and are counted in the report. A column the model
needs that the input lacks, or has with an unusable type, fails the run before anything is written.

Output columns: the key columns (`--key-column`, passed through with their type), the prediction (a float, in the
column the spec names: `spec.output`), `model`, `model_version`, `predicted_at` (the run's start, UTC, the same for
every row of a run, so it identifies the run) and `error`.

Reruns:
- Parquet sink: one file per job, named from what defines the job (model, version, input, window, keys), written
  under a temporary name (`.incomplete-*`, which no `*.parquet` glob matches) and moved into place on success. A
  failed run leaves no file (and the previous run's file, if any, untouched); a rerun of the same job replaces the
  file in one step: readers see the old file or the new one, never half of one or both.
- BigQuery sink: every batch is inserted once (`insert_rows_json`, row ids `run_id:row_index`, run_id unique per
  run), so BigQuery can drop the duplicates of a request the client library itself retried (best effort; bqemulator
  ignores row ids). Streamed rows cannot be taken back: a failed run leaves the batches it had inserted, and a rerun
  appends a complete new set with a later `predicted_at`. Read the latest run per key
  (`QUALIFY ROW_NUMBER() OVER (PARTITION BY key ORDER BY predicted_at DESC) = 1`), or delete a failed run's rows by
  its `predicted_at` once they have left the streaming buffer.

    python -m mlops_inference.batch_job --model NAME --env ENV --input URI --output URI \\
        [--key-column C]... [--batch-size N] [--timestamp-column C [--start ISO] [--end ISO]]

URIs are `gs://bucket/path/*.parquet` (input: a glob; output: a prefix, or a `.parquet` object) or
`bq://project.dataset.table`. The model is the latest live version the registry has for the model and env.
An image model's input is a folder of files instead: `gs://bucket/prefix/` or a local folder (batch_images.py).
Prints the report as one JSON line. Exit status: 0 done, 2 bad arguments or no model, 1 the run failed.

Scaling out (batch_shards.py): run as a Cloud Run job of n tasks, each task reads `CLOUD_RUN_TASK_INDEX` and
`CLOUD_RUN_TASK_COUNT` and scores its own share of the input (Parquet row groups, image files, BigQuery rows by
the key's hash), writing its own part, `<name>-part-<i>-of-<n>.parquet`, moved into place whole as above (a
BigQuery output gets every task's rows). The run's output is all n parts. One task (the default) writes the
file named as before.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.ports import ParquetFiles

from mlops_inference.batch_images import DEFAULT_IMAGE_BATCH_SIZE, ImageFiles, run_image_batch
from mlops_inference.batch_rows import (
    DEFAULT_BATCH_SIZE,
    TABLE_ID,
    BatchInputError,
    BatchReport,
    BatchSink,
    BatchSource,
    UsageError,
    aware_utc,
    rebatch,
    run_batch,
)
from mlops_inference.batch_shards import ONE_TASK, Shard, shard_range
from mlops_inference.batch_sinks import BigQuerySink, ParquetSink
from mlops_inference.batch_sources import BigQuerySource, ParquetSource

# The job's API in one place: `from mlops_inference.batch_job import run_batch, ParquetSource, ...`.
__all__ = [
    "BatchInputError",
    "BatchReport",
    "BigQuerySink",
    "BigQuerySource",
    "ImageFiles",
    "ParquetSink",
    "ParquetSource",
    "Shard",
    "main",
    "rebatch",
    "run_batch",
    "run_image_batch",
    "shard_range",
]


# -- CLI -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Uri:
    scheme: str  # gs | bq | file (a local folder of images)
    bucket: str = ""
    path: str = ""
    table: str = ""

    @classmethod
    def parse(cls, raw: str, what: str) -> Uri:
        if what == "--input" and (raw.startswith("file://") or raw.startswith("/")):
            return cls("file", path=raw.removeprefix("file://"))
        if raw.startswith("gs://"):
            bucket, _, path = raw[5:].partition("/")
            if not bucket or not path:
                raise UsageError(f"{what} {raw!r}: expected gs://bucket/path")
            return cls("gs", bucket=bucket, path=path)
        if raw.startswith("bq://"):
            table = raw[5:]
            if not TABLE_ID.match(table):
                raise UsageError(f"{what} {raw!r}: expected bq://project.dataset.table")
            return cls("bq", table=table)
        raise UsageError(f"{what} {raw!r}: expected gs://bucket/path or bq://project.dataset.table")


def job_key(model: str, version: int, args: argparse.Namespace) -> str:
    """What defines the job, hashed: a rerun of the same job gets the same Parquet file name (and replaces it)."""
    identity = [model, version, args.input, args.timestamp_column, args.start, args.end, args.key_column]
    return hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()[:12]


def output_object(path: str, model: str, version: int, key: str, shard: Shard = ONE_TASK) -> str:
    """A `.parquet` path is the file; anything else is a prefix the run's file goes under. A task of several
    writes its own part, named with its index and the task count."""
    if path.endswith(".parquet"):
        return f"{path.removesuffix('.parquet')}{shard.suffix()}.parquet"
    prefix = path.rstrip("/")
    name = f"{model}-v{version}-{key}{shard.suffix()}.parquet"
    return f"{prefix}/{name}" if prefix else name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_inference.batch_job", description="Batch predictions with a registered model."
    )
    parser.add_argument("--model", required=True, help="the registered model's name")
    parser.add_argument("--env", required=True, help="the registry environment (dev, staging, prod)")
    # Which version scores: pinned, so every task of a sharded run scores with the same one even if a new
    # version is registered meanwhile (the default, the latest, is read by each task as it starts).
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", type=_version, help="score with this version (default: the latest live one)")
    which.add_argument("--alias", help="score with the version this alias (champion, ...) points to")
    parser.add_argument("--input", required=True, help="gs://bucket/path/*.parquet or bq://project.dataset.table")
    parser.add_argument("--output", required=True, help="gs://bucket/prefix/ (or .../file.parquet) or bq://...")
    parser.add_argument("--key-column", action="append", default=[], help="an id column passed through (repeatable)")
    parser.add_argument(
        "--batch-size",
        type=int,
        help=f"rows per forward pass ({DEFAULT_BATCH_SIZE}; image files: {DEFAULT_IMAGE_BATCH_SIZE})",
    )
    parser.add_argument("--timestamp-column", help="the column the time window applies to")
    parser.add_argument("--start", type=_iso, help="window start, inclusive (ISO 8601; UTC when naive)")
    parser.add_argument("--end", type=_iso, help="window end, exclusive")
    return parser


def _version(raw: str) -> int:
    number = raw.removeprefix("v")
    if not number.isascii() or not number.isdigit() or not 1 <= int(number) <= 2**31:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a version (1, 2, ... or v1, v2, ...)")
    return int(number)


def _iso(raw: str) -> datetime:
    try:
        return aware_utc(datetime.fromisoformat(raw))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO 8601 time") from None


def _check_arguments(args: argparse.Namespace) -> tuple[Uri, Uri]:
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be positive, got {args.batch_size}")
    if (args.start or args.end) and not args.timestamp_column:
        raise UsageError("--start/--end need --timestamp-column")
    if args.start and args.end and args.start >= args.end:
        raise UsageError(f"--start {args.start.isoformat()} is not before --end {args.end.isoformat()}")
    return Uri.parse(args.input, "--input"), Uri.parse(args.output, "--output")


def build_source(deps: Any, uri: Uri, args: argparse.Namespace, shard: Shard = ONE_TASK) -> BatchSource:
    if uri.scheme == "file":
        raise UsageError("a local --input is a folder of image files; rows come from gs:// Parquet or bq://")
    if uri.scheme == "bq":
        return BigQuerySource(
            _bigquery(deps),
            uri.table,
            key_columns=args.key_column,
            timestamp_column=args.timestamp_column,
            start=args.start,
            end=args.end,
            shard=shard,
        )
    from shared.payloads.drift import DataLocation

    location = DataLocation(uri.bucket, uri.path, args.timestamp_column, args.start, args.end)
    return ParquetSource(_parquet_files(deps), location, key_columns=args.key_column, shard=shard)


def build_image_source(deps: Any, uri: Uri, args: argparse.Namespace, shard: Shard) -> ImageFiles:
    if uri.scheme == "bq":
        raise UsageError("an image model scores a folder of files: gs://bucket/prefix/ or a local folder")
    if args.key_column or args.timestamp_column:
        raise UsageError("--key-column and --timestamp-column are for rows; an image's key is its file")
    if uri.scheme == "file":
        return ImageFiles(folder=Path(uri.path), shard=shard)
    return ImageFiles(store=deps.objects, bucket=uri.bucket, prefix=uri.path, shard=shard)


def build_sink(deps: Any, uri: Uri, name: str, run_id: str) -> BatchSink:
    if uri.scheme == "bq":
        return BigQuerySink(_bigquery(deps), uri.table, run_id=run_id)
    if deps.profile == "embedded":
        return ParquetSink.local(Path(deps.settings.buckets_dir) / uri.bucket / name)
    return ParquetSink.gcs(deps.storage_client(), uri.bucket, name)


def _parquet_files(deps: Any) -> ParquetFiles:
    if deps.profile == "embedded":
        from shared.adapters.local_parquet_files import LocalParquetFiles

        return LocalParquetFiles(deps.settings.buckets_dir)
    from shared.adapters.gcs_parquet_files import GcsParquetFiles

    return GcsParquetFiles(deps.storage_client())


def _bigquery(deps: Any) -> Any:
    if deps.profile == "embedded":
        raise UsageError("bq:// needs the emulators or cloud profile (MLOPS_EVENTS_PROFILE); embedded has no BigQuery")
    return deps.bigquery_client()


@dataclass(frozen=True)
class _Chosen:
    source: Any  # the RegistryModelSource that found it, which loads it
    files: Any  # its VersionFiles


def _chosen_version(args: argparse.Namespace, deps: Any) -> _Chosen:
    """The version `--version`, `--alias` or (neither) the latest names; a usage error when there is none."""
    from mlops_inference.model_source import RegistryModelSource
    from shared.errors import PermanentError
    from shared.model_registry import alias_name

    where = f"{args.model!r} in env {args.env!r}"
    if args.alias is not None:
        try:
            alias = alias_name(args.alias)
        except PermanentError as exc:
            raise UsageError(f"--alias: {exc}") from None
        source = RegistryModelSource(
            deps.registry, deps.objects, args.model, args.env, alias=alias, aliases=deps.registry
        )
        files = source.serving()
        if files is None:
            raise UsageError(f"alias {alias!r} of {where} points to no live version")
        return _Chosen(source, files)
    source = RegistryModelSource(deps.registry, deps.objects, args.model, args.env)
    if args.version is not None:
        files = source.version(args.version)
        if files is None:
            raise UsageError(f"no live version v{args.version} of {where} in the registry")
        return _Chosen(source, files)
    files = source.latest()
    if files is None:
        raise UsageError(f"no live version of {where} in the registry")
    return _Chosen(source, files)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed why
        return int(exc.code or 0)
    try:
        return _run(args)
    except UsageError as exc:
        print(f"batch_job: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"batch_job: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from mlops_inference.model import ModelSpec
    from shared.deps import current_deps

    source_uri, sink_uri = _check_arguments(args)
    shard = Shard.from_env()
    deps = current_deps()
    version = _chosen_version(args, deps)
    model = version.source.load(version.files)
    key = job_key(model.name, model.version, args)
    run_id = f"{key}-{uuid.uuid4().hex[:8]}-t{shard.index}"
    sink = build_sink(deps, sink_uri, output_object(sink_uri.path, model.name, model.version, key, shard), run_id)
    if isinstance(model.spec, ModelSpec):
        source = build_source(deps, source_uri, args, shard)
        report = run_batch(model, source, sink, batch_size=args.batch_size or DEFAULT_BATCH_SIZE)
    else:
        images = build_image_source(deps, source_uri, args, shard)
        report = run_image_batch(model, images, sink, batch_size=args.batch_size or DEFAULT_IMAGE_BATCH_SIZE)
    print(json.dumps({**report.as_dict(), **shard.as_dict(), "job_key": key, "run_id": run_id}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
