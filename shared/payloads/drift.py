"""A drift run request: which model, which reference, which current window.

It arrives as the body of a Cloud Scheduler job, through Pub/Sub (messagePublished) or through HTTP
(headers `X-CloudScheduler-JobName` and `X-CloudScheduler-ScheduleTime`). Both carry the same JSON:

    {"model": "fraud-detector", "env": "prod",
     "reference": {"uri": "gs://ml-drift-prod/fraud-detector/reference/*.parquet"},
     "current": {"uri": "gs://ml-drift-prod/fraud-detector/current/*.parquet",
                 "timestamp_column": "event_time", "window_hours": 24},
     "features": ["amount", "country"],                        # optional: default every shared column
     # either side may be a BigQuery table instead: {"uri": "bq://project.dataset.table", ...}
     # the current side may be what the inference service served (shared/drift/served.py):
     #   {"uri": "gs://ml-predictions-prod/fraud-detector/dt=*/*.parquet", "timestamp_column": "served_at",
     #    "window_hours": 24, "captured": true}, or bq://project.ml_monitoring.predictions (the model's rows)
     "methods": {"amount": {"method": "psi", "threshold": 0.2}},  # optional, per feature
     "drift_share": 0.3}                                       # optional
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from shared.bucket_names import is_bucket_name
from shared.errors import EventParseError
from shared.payloads import _fields

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_URI = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,220})/(.+)$")
# bq://project.dataset.table: the statistics then run as SQL inside BigQuery.
_TABLE_URI = re.compile(r"^bq://([a-z][a-z0-9-]{4,61}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_$-]{1,1024})$")
MAX_WINDOW_HOURS = 24 * 366
MAX_COLUMNS = 10_000  # BigQuery's columns per table
# Cloud Scheduler's job ids; the job also names the report's objects, so nothing else gets through.
_JOB = re.compile(r"^[A-Za-z0-9_-]{1,500}$")


@dataclass(frozen=True)
class DataLocation:
    bucket: str  # Parquet in a bucket; empty for a BigQuery table
    path: str  # inside the bucket; may hold globs (`*.parquet`)
    timestamp_column: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    window_hours: float | None = None  # a window ending at the run's time, when start/end are not given
    table: str | None = None  # project.dataset.table, for a BigQuery source
    # The inference service's captured predictions (current side only): outputs compared too, versions named.
    captured: bool = False
    model_filter: str | None = None  # a captured BigQuery table: only this model's rows

    @property
    def uri(self) -> str:
        return f"bq://{self.table}" if self.table else f"gs://{self.bucket}/{self.path}"


LOCATION_FIELDS = ("uri", "timestamp_column")  # what a profiler may find wrong with one side's location


@contextmanager
def location_of(side: str) -> Iterator[None]:
    """A profiler refuses a location's field (`uri`: no data there, `timestamp_column`: no such column,
    or no time in it) without knowing which side it was given: raised again as the request's field."""
    try:
        yield
    except EventParseError as exc:
        if exc.field in LOCATION_FIELDS:
            raise EventParseError(exc.reason, field=f"{side}.{exc.field}") from None
        raise


@dataclass(frozen=True)
class DriftRequest:
    event_id: str
    job: str
    schedule_time: datetime | None  # None: "run now", deduplicated on the event id only
    model: str
    env: str
    reference: DataLocation
    current: DataLocation
    features: tuple[str, ...] = ()
    methods: dict[str, tuple[str, float]] = field(default_factory=dict)
    drift_share: float | None = None

    @property
    def run_key(self) -> str:
        return f"{self.job}@{self.schedule_time.isoformat() if self.schedule_time else self.event_id}"

    def current_window(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """The current side's window: explicit bounds, or `window_hours` up to the scheduled time."""
        location = self.current
        if location.window_hours is None:
            return location.start, location.end
        end = location.end or self.schedule_time or now
        return end - timedelta(hours=location.window_hours), end


def _name(obj: Mapping[str, Any], key: str, field_name: str) -> str:
    value = _fields.required_string(obj, key, field_name)
    if not _NAME.fullmatch(value):
        raise EventParseError(f"{value!r:.60} is not a valid name", field=field_name)
    return value


def _check_object_path(path: str, field: str) -> None:
    """A path inside the bucket, and nothing else: no empty, '.' or '..' segment (`gs://b//abs/path`
    named a file outside the local bucket root, `..` climbed out of it) and no control character."""
    segments = path.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise EventParseError("must be a path inside the bucket: no empty, '.' or '..' segment", field=field)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path) or len(path.encode("utf-8", "replace")) > 1024:
        raise EventParseError("is not a valid object path (control character, or over 1024 bytes)", field=field)


def _location(obj: Any, field_name: str) -> DataLocation:
    obj = _fields.require_mapping(obj, field_name)
    uri = _fields.string(obj, "uri", f"{field_name}.uri")
    match, table = _URI.fullmatch(uri or ""), _TABLE_URI.fullmatch(uri or "")
    if not match and not table:
        raise EventParseError(
            f"expected gs://bucket/path or bq://project.dataset.table, got {uri!r:.80}", field=f"{field_name}.uri"
        )
    if match:
        if not is_bucket_name(match.group(1)):
            raise EventParseError(f"{match.group(1)!r:.80} is not a bucket name", field=f"{field_name}.uri")
        _check_object_path(match.group(2), f"{field_name}.uri")
    hours = obj.get("window_hours")
    if hours is not None and (
        isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= MAX_WINDOW_HOURS
    ):
        raise EventParseError(
            f"expected hours in (0, {MAX_WINDOW_HOURS}], got {hours!r:.20}", field=f"{field_name}.window_hours"
        )
    location = DataLocation(
        bucket=match.group(1) if match else "",
        path=match.group(2) if match else "",
        table=table.group(1) if table else None,
        timestamp_column=_fields.string(obj, "timestamp_column", f"{field_name}.timestamp_column", required=False),
        start=_fields.timestamp(obj, "start", f"{field_name}.start", required=False),
        end=_fields.timestamp(obj, "end", f"{field_name}.end", required=False),
        window_hours=float(hours) if hours is not None else None,
    )
    if (location.start or location.end or location.window_hours) and not location.timestamp_column:
        raise EventParseError("a time window needs timestamp_column", field=f"{field_name}.timestamp_column")
    if location.start and location.end and location.start >= location.end:
        raise EventParseError("start must come before end", field=f"{field_name}.start")
    captured = obj.get("captured", False)
    if not isinstance(captured, bool):
        raise EventParseError(f"expected true or false, got {captured!r:.20}", field=f"{field_name}.captured")
    if captured:
        if field_name != "current":
            raise EventParseError("only the current side can be captured predictions", field=f"{field_name}.captured")
        if not location.timestamp_column:
            raise EventParseError(
                "captured predictions need timestamp_column (served_at)", field=f"{field_name}.timestamp_column"
            )
        location = replace(location, captured=True)
    return location


def _columns(names: Any, field: str) -> list[str]:
    """Column names: text within the field limit, at most as many as a BigQuery table has columns."""
    if not isinstance(names, list | Mapping) or len(names) > MAX_COLUMNS:
        raise EventParseError(f"expected at most {MAX_COLUMNS} column names", field=field)
    for name in names:
        if not isinstance(name, str) or not name or len(name) > _fields.MAX_TEXT:
            raise EventParseError(f"expected column names of 1 to {_fields.MAX_TEXT} characters", field=field)
        _fields.check_text(name, field)
    return list(names)


def _methods(obj: Any) -> dict[str, tuple[str, float]]:
    if obj is None:
        return {}
    methods = _fields.require_mapping(obj, "methods")
    _columns(methods, "methods")
    out = {}
    for feature, spec in methods.items():
        where = f"methods.{feature[:60]}"
        spec = _fields.require_mapping(spec, where)
        method = _fields.string(spec, "method", f"{where}.method")
        out[feature] = (str(method), _fields.finite_number(spec.get("threshold"), f"{where}.threshold", text=False))
    return out


def _captured_model(location: DataLocation, body: Mapping[str, Any]) -> DataLocation:
    """A captured BigQuery table holds every model's predictions: the run reads its own model's."""
    if location.captured and location.table:
        return replace(location, model_filter=_name(body, "model", "model"))
    return location


def parse_drift_request(body: Any, *, event_id: str, job: str, schedule_time: datetime | None) -> DriftRequest:
    body = _fields.require_mapping(body, "body")
    if not _JOB.fullmatch(job):
        raise EventParseError(f"{job!r:.60} is not a Cloud Scheduler job id", field="job")
    features = _columns(body.get("features") or [], "features")
    share = body.get("drift_share")
    if share is not None and (isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1):
        raise EventParseError(f"expected a share in (0, 1], got {share!r:.20}", field="drift_share")
    return DriftRequest(
        event_id=event_id,
        job=job,
        schedule_time=schedule_time,
        model=_name(body, "model", "model"),
        env=_name(body, "env", "env"),
        reference=_location(body.get("reference"), "reference"),
        current=_captured_model(_location(body.get("current"), "current"), body),
        features=tuple(features),
        methods=_methods(body.get("methods")),
        drift_share=float(share) if share is not None else None,
    )
