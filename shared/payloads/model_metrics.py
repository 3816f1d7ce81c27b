"""A model version's `metrics.json` (`gs://ml-models-{env}/{model}/v{N}/metrics.json`): the evaluation
numbers evaluate_model compares with the champion's.

The file is a JSON object of metric name -> number (`{"auc": 0.93, "log_loss": 0.21}`). Keys whose value
is not a number (a dataset name, a note) are kept out of the comparison; a value that is a number must be
finite. Errors name the field as `metrics.json.<key>`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from shared.errors import EventParseError
from shared.payloads import _fields

METRICS_FILE = "metrics.json"
# An evaluation summary is a few hundred bytes; a file past this is no metrics file of ours.
MAX_METRICS_BYTES = 64 * 1024
MAX_METRICS = 200
MAX_METRIC_NAME = 100
_FIELD = METRICS_FILE


def _refuse_constant(token: str) -> Any:
    raise EventParseError(f"is {token}: metrics must be finite numbers", field=_FIELD)


def parse_metrics(raw: bytes | None, required: tuple[str, ...] = ()) -> dict[str, float]:
    """The numeric metrics of one metrics.json, or EventParseError naming what is wrong with it."""
    if raw is None:
        raise EventParseError("is missing (the object version no longer exists)", field=_FIELD)
    if len(raw) > MAX_METRICS_BYTES:
        raise EventParseError(f"is over {MAX_METRICS_BYTES} bytes: no metrics summary", field=_FIELD)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EventParseError("is not UTF-8 text", field=_FIELD) from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except EventParseError as exc:
        raise EventParseError(exc.reason, field=_locate_constant(text)) from None
    except (ValueError, RecursionError) as exc:
        raise EventParseError(f"is not valid JSON ({str(exc)[:80]})", field=_FIELD) from None
    body = _fields.require_mapping(document, _FIELD)
    if len(body) > MAX_METRICS:
        raise EventParseError(f"has {len(body)} keys; at most {MAX_METRICS} are accepted", field=_FIELD)
    metrics: dict[str, float] = {}
    for key, value in body.items():
        where = f"{_FIELD}.{key[:MAX_METRIC_NAME]}"
        if len(key) > MAX_METRIC_NAME or not key:
            raise EventParseError(f"a metric name must be 1 to {MAX_METRIC_NAME} characters", field=where)
        _fields.check_text(key, where)
        if isinstance(value, bool) or not isinstance(value, int | float):
            if key in required:
                raise EventParseError(f"expected a number, got {type(value).__name__}", field=where)
            continue  # a note beside the numbers
        number = float(value) if abs(value) < 1e308 else math.inf
        if not math.isfinite(number):
            raise EventParseError("is not a finite number", field=where)
        metrics[key] = number
    for name in required:
        if name not in metrics:
            raise EventParseError("is missing: the gate requires it", field=f"{_FIELD}.{name}")
    return metrics


def _locate_constant(text: str) -> str:
    """The key whose value was NaN or Infinity, where the JSON can be read with them allowed."""
    try:
        loose = json.loads(text)
    except ValueError:
        return _FIELD
    if isinstance(loose, dict):
        for key, value in loose.items():
            if isinstance(value, float) and not math.isfinite(value):
                return f"{_FIELD}.{str(key)[:MAX_METRIC_NAME]}"
    return _FIELD
