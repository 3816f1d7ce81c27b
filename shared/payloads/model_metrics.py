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


# An integer of more digits than this is past every float (1.8e308): not even read by int() (whose own
# limit, 4300 digits, would fail the whole file without naming the field).
_MAX_INT_DIGITS = 309
MAX_PATH_CHARS = 300  # a field path as an error names it: a nested note's path is cut, the error stays short


class _Unreadable:
    """A value JSON has no number for (NaN, Infinity, -Infinity: Python's json reads them) or no float can
    hold (a 400-digit integer), kept where it stood so that the refusal names its field."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _constant(token: str) -> _Unreadable:
    return _Unreadable(f"is {token}: metrics must be finite numbers")


_PAST_FLOATS = "is past the range of numbers a metric can be (1.8e308)"


def _integer(digits: str) -> int | _Unreadable:
    if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
        return _Unreadable(_PAST_FLOATS)
    number = int(digits)
    try:
        float(number)
    except OverflowError:
        return _Unreadable(_PAST_FLOATS)
    return number


def _float(text: str) -> float | _Unreadable:
    number = float(text)
    return number if math.isfinite(number) else _Unreadable(_PAST_FLOATS)  # 1e400 reads as infinity


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuses a key given twice: readers differ on which value wins (Python's json keeps the last)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


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
        document = json.loads(
            text, parse_constant=_constant, parse_int=_integer, parse_float=_float, object_pairs_hook=_object
        )
    except _DuplicateKey as exc:
        raise EventParseError(f'has the key "{_shown(exc.key)}" twice in one object', field=_FIELD) from None
    except RecursionError:
        raise EventParseError("is nested too deeply to be a metrics summary", field=_FIELD) from None
    except ValueError as exc:
        raise EventParseError(f"is not valid JSON ({str(exc)[:80]})", field=_FIELD) from None
    unreadable = _first_unreadable(document)
    if unreadable is not None:
        where, value = unreadable
        raise EventParseError(value.reason, field=where)
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
        metrics[key] = float(value)  # finite: anything else was refused where json read it
    for name in required:
        if name not in metrics:
            raise EventParseError("is missing: the gate requires it", field=f"{_FIELD}.{name}")
    return metrics


def _first_unreadable(document: Any) -> tuple[str, _Unreadable] | None:
    """The first value json read as unreadable, with its path (`metrics.json.key`, `...notes[2]`), walked
    without recursion (json itself nests up to about a thousand levels)."""
    pending: list[tuple[str, Any]] = [(_FIELD, document)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, _Unreadable):
            return where[:MAX_PATH_CHARS], value
        if isinstance(value, dict):
            items = [(f"{where}.{_shown(k)}", v) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        pending.extend(reversed(items))  # in document order
    return None


def _shown(key: str) -> str:
    """A key as an error names it: escaped as in JSON, ASCII only (a lone surrogate or a control character in
    a key must not make the error itself unstorable), cut to a metric name's length."""
    return json.dumps(key)[1:-1][:MAX_METRIC_NAME]
