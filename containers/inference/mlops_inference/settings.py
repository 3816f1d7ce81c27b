"""The service's own settings, from the environment (the backends' come from shared.config)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.bucket_names import is_bucket_name


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class ServiceSettings:
    model_name: str  # MODEL_NAME: which registered model this service serves
    env: str  # ENV: from which environment's bucket
    # MODEL_ALIAS: serve the version this alias (champion, ...) points to, and follow it when it moves;
    # unset: the latest live version. A rollback is an alias move (`mlops-events registry alias set`).
    model_alias: str | None = None
    batching: bool = True  # INFERENCE_BATCHING: off serves each request with its own forward pass
    max_batch_size: int = 32  # INFERENCE_MAX_BATCH_SIZE: rows per forward pass at most
    # INFERENCE_MAX_WAIT_MS: how long a first request waits for company. 0 (the default) batches only what
    # queued while the previous forward pass ran: no delay when idle, full batches under load. Measured
    # (benchmarks/inference.py): 5 ms cut single-client throughput to a quarter and did not raise it at 32.
    max_wait_ms: float = 0.0
    max_rows: int = 1000  # INFERENCE_MAX_ROWS: rows per request (more: 413)
    max_body_bytes: int = 1024 * 1024  # INFERENCE_MAX_BODY_BYTES (more: 413)
    reload_s: float = 30.0  # INFERENCE_RELOAD_S: how often the registry is asked for a newer version
    threads: int | None = None  # INFERENCE_THREADS: torch threads (default: the CPUs this container may use)
    # INFERENCE_HEADER_TIMEOUT_S: the request line and headers must arrive whole within this many seconds of
    # their first byte (or of the connection's opening): past it, 408 and the connection closed.
    header_timeout_s: float = 10.0
    # INFERENCE_BODY_TIMEOUT_S: the body must arrive whole within this many seconds of the headers: 408.
    body_timeout_s: float = 15.0
    # INFERENCE_REQUEST_ID_KEY: the key request ids are signed with, so /feedback takes only ids this service
    # issued. Unset: a random key per process (ids are then good on the instance that issued them until it
    # restarts); set the same secret on every instance behind one URL.
    request_id_key: bytes | None = field(default=None, repr=False)
    # Image models. INFERENCE_MAX_UPLOAD_BYTES: a multipart body, or a JSON one to an image model (base64
    # images), in place of INFERENCE_MAX_BODY_BYTES (more: 413).
    max_upload_bytes: int = 32 * 1024 * 1024
    max_file_bytes: int = 16 * 1024 * 1024  # INFERENCE_MAX_FILE_BYTES: one image file (more: 413)
    # INFERENCE_MAX_IMAGE_PIXELS: width x height x frames declared by a file's header, checked before its
    # pixels are decoded (a decompression bomb declares 10^10 in a few KB): more is a 413.
    max_image_pixels: int = 4096 * 4096
    max_images: int = 32  # INFERENCE_MAX_IMAGES: files per request (more: 413)
    decode_threads: int = 2  # INFERENCE_DECODE_THREADS: images decoded at once, off the event loop
    # INFERENCE_CONFIDENCE_THRESHOLD: predictions whose top-class probability is below it count as low
    # confidence in /metrics (the share the alert policies read).
    confidence_threshold: float = 0.7
    # Prediction capture (mlops_inference.capture). INFERENCE_CAPTURE_RATE: the share of served rows recorded
    # (0 turns capture off); INFERENCE_CAPTURE_QUEUE: rows waiting at most (more are dropped and counted);
    # INFERENCE_CAPTURE_BATCH: rows per write (each write cost the demo model's event loop a few ms of CPU
    # whatever its size: with 1,000-row writes capture cost 8% of its throughput, with 10,000-row ones 5%);
    # INFERENCE_CAPTURE_FLUSH_S: the longest a row waits for one.
    # INFERENCE_CAPTURE_SINK: `parquet` (gs://ml-predictions-{env}/, the default on embedded and emulators),
    # `bigquery` (ml_monitoring.predictions, the cloud's default) or both, `bigquery,parquet`: every row goes
    # to each, and /feedback looks rows up in the first.
    capture_rate: float = 1.0
    capture_queue: int = 50_000
    capture_batch: int = 10_000
    capture_flush_s: float = 10.0
    capture_sinks: tuple[str, ...] = ()
    # INFERENCE_CAPTURE_BUCKET: the Parquet sink's bucket ({env}: the service's; Terraform sets it prefixed).
    capture_bucket: str = "ml-predictions-{env}"
    # /feedback joins a label to the capture of its row (mlops_inference.feedback). INFERENCE_FEEDBACK_JOIN_DAYS:
    # how many days (x 24 h: every UTC day partition overlapping them) a lookup searches: older rows stay unjoined.
    feedback_join_days: int = 7
    # INFERENCE_FEEDBACK_METRICS_S: how old the feedback accuracy in /metrics may be (it reads the feedback
    # store, so at most once per this many seconds, never once per scrape; Firestore's stats read up to 10,000
    # entries, so not every minute: the accuracy alert looks at an hour, evaluated every 5 minutes).
    feedback_metrics_s: float = 300.0
    # INFERENCE_GC_GEN0: the garbage collector's youngest-generation threshold (objects allocated and not yet
    # freed), which the process's entry points set (mlops_inference.main.tune_gc). CPython's 700 is crossed by
    # the requests in flight alone, a pass every few requests: 7,700 passes and 0.9 s of a 28 s run at 32
    # clients on the demo model; at 10,000, a hundred passes and 0.1 s. 700 gives CPython's behaviour back.
    gc_gen0: int = 10_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        env = os.environ if environ is None else environ
        missing = [name for name in ("MODEL_NAME", "ENV") if not env.get(name)]
        if missing:
            raise SettingsError(f"the inference service needs {' and '.join(missing)}")

        def number(name: str, kind: type, default):
            raw = env.get(name)
            if raw in (None, ""):
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
            zero_allowed = name in {"INFERENCE_MAX_WAIT_MS", "INFERENCE_RELOAD_S", "INFERENCE_THREADS"}
            if not math.isfinite(value) or value < 0 or (value == 0 and not zero_allowed):
                raise SettingsError(f"{name}: must be positive, got {raw!r}")
            most = _most(name)
            if value > most:  # a wait past what a thread can wait would kill the thread, not the start
                raise SettingsError(f"{name}: at most {most:,}, got {raw!r:.40}")
            return value

        return cls(
            model_name=env["MODEL_NAME"],
            env=env["ENV"],
            model_alias=_alias(env.get("MODEL_ALIAS")),
            batching=env.get("INFERENCE_BATCHING", "on").lower() not in {"off", "false", "0", "no"},
            max_batch_size=number("INFERENCE_MAX_BATCH_SIZE", int, 32),
            max_wait_ms=number("INFERENCE_MAX_WAIT_MS", float, 0.0),
            max_rows=number("INFERENCE_MAX_ROWS", int, 1000),
            max_body_bytes=number("INFERENCE_MAX_BODY_BYTES", int, 1024 * 1024),
            reload_s=number("INFERENCE_RELOAD_S", float, 30.0),
            threads=number("INFERENCE_THREADS", int, None),
            header_timeout_s=number("INFERENCE_HEADER_TIMEOUT_S", float, 10.0),
            body_timeout_s=number("INFERENCE_BODY_TIMEOUT_S", float, 15.0),
            request_id_key=_request_id_key(env.get("INFERENCE_REQUEST_ID_KEY")),
            max_upload_bytes=number("INFERENCE_MAX_UPLOAD_BYTES", int, 32 * 1024 * 1024),
            max_file_bytes=number("INFERENCE_MAX_FILE_BYTES", int, 16 * 1024 * 1024),
            max_image_pixels=number("INFERENCE_MAX_IMAGE_PIXELS", int, 4096 * 4096),
            max_images=number("INFERENCE_MAX_IMAGES", int, 32),
            decode_threads=number("INFERENCE_DECODE_THREADS", int, 2),
            confidence_threshold=_threshold(env.get("INFERENCE_CONFIDENCE_THRESHOLD")),
            capture_rate=_rate(env.get("INFERENCE_CAPTURE_RATE")),
            capture_queue=number("INFERENCE_CAPTURE_QUEUE", int, 50_000),
            capture_batch=number("INFERENCE_CAPTURE_BATCH", int, 10_000),
            capture_flush_s=number("INFERENCE_CAPTURE_FLUSH_S", float, 10.0),
            capture_sinks=_sinks(env.get("INFERENCE_CAPTURE_SINK")),
            capture_bucket=_bucket_template(env.get("INFERENCE_CAPTURE_BUCKET"), env["ENV"]),
            feedback_join_days=number("INFERENCE_FEEDBACK_JOIN_DAYS", int, 7),
            feedback_metrics_s=number("INFERENCE_FEEDBACK_METRICS_S", float, 300.0),
            gc_gen0=number("INFERENCE_GC_GEN0", int, 10_000),
        )


MIN_KEY_CHARS = 16
# Upper bounds, by the kind of setting: a duration at most a day (a wait of 1e10 s overflows the threads'
# waits: the capture writer or the reload thread would die at its first wait, the service running on),
# the feedback lookup at most a year back (each day is a partition listed or scanned), the collector's
# threshold at most a million (CPython's is 700).
MAX_SECONDS = 86_400
_MOST = {
    "INFERENCE_FEEDBACK_JOIN_DAYS": 366,
    "INFERENCE_GC_GEN0": 1_000_000,
    "INFERENCE_MAX_WAIT_MS": 1000 * MAX_SECONDS,
}


def _most(name: str) -> float:
    if name in _MOST:
        return _MOST[name]
    return MAX_SECONDS if name.endswith("_S") else math.inf


def _bucket_template(raw: str | None, env: str) -> str:
    """INFERENCE_CAPTURE_BUCKET: a bucket name, `{env}` standing for the service's environment (the only
    field), checked with the service's ENV at start, not at the first write or /feedback."""
    template = raw or "ml-predictions-{env}"
    try:
        name = template.format(env=env)
    except (KeyError, IndexError, ValueError, AttributeError):
        message = f"INFERENCE_CAPTURE_BUCKET: a bucket name, {{env}} its only field, got {template!r:.80}"
        raise SettingsError(message) from None
    if not is_bucket_name(name):
        raise SettingsError(f"INFERENCE_CAPTURE_BUCKET: {name!r:.80} (ENV {env!r:.40}) is not a bucket name")
    return template


def _alias(raw: str | None) -> str | None:
    if raw in (None, ""):
        return None
    from shared.errors import PermanentError
    from shared.model_registry import alias_name

    try:
        return alias_name(raw)
    except PermanentError as exc:
        raise SettingsError(f"MODEL_ALIAS: {exc}") from None


def _request_id_key(raw: str | None) -> bytes | None:
    if raw in (None, ""):
        return None
    from shared.secret_values import remember_secret

    remember_secret(raw)
    if len(raw) < MIN_KEY_CHARS:
        raise SettingsError(f"INFERENCE_REQUEST_ID_KEY: at least {MIN_KEY_CHARS} characters")
    return raw.encode()


def _threshold(raw: str | None) -> float:
    if raw in (None, ""):
        return 0.7
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"INFERENCE_CONFIDENCE_THRESHOLD: expected a number, got {raw!r}") from None
    if not 0.0 < value < 1.0:
        raise SettingsError(f"INFERENCE_CONFIDENCE_THRESHOLD: a probability strictly between 0 and 1, got {raw!r}")
    return value


def _rate(raw: str | None) -> float:
    if raw in (None, ""):
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"INFERENCE_CAPTURE_RATE: expected a number, got {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise SettingsError(f"INFERENCE_CAPTURE_RATE: a share from 0 (off) to 1 (every row), got {raw!r}")
    return value


def _sinks(raw: str | None) -> tuple[str, ...]:
    """`parquet`, `bigquery` or both, comma-separated (the first is where /feedback looks rows up)."""
    if raw is None or not raw.strip():
        return ()
    names = tuple(name.strip() for name in raw.split(","))
    unknown = [name for name in names if name not in {"parquet", "bigquery"}]  # an empty one included
    if unknown or len(set(names)) != len(names):
        raise SettingsError(f"INFERENCE_CAPTURE_SINK: parquet, bigquery or both (comma-separated), got {raw!r:.80}")
    return names
