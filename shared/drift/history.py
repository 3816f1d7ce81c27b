"""Each feature's score over a model's earlier runs: what a drift run stores of itself, and reads back.

A run's `drift_runs` row carries `feature_scores`, {feature: {"value", "threshold", "method",
"drifted"}} for every feature its method could score, so the next report can chart each feature's
value run after run: a slow drift shows before it crosses the threshold. Values are the method's own
number (a distance, or a p-value), strict JSON: a non-finite one is the string "inf", "-inf" or
"nan", as in the JSON summary.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.drift.detect import DriftResult

HISTORY_RUNS = 20  # earlier runs a report charts per feature
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


@dataclass(frozen=True)
class Score:
    """One feature's outcome in one run."""

    value: float
    threshold: float | None
    method: str | None
    drifted: bool


@dataclass(frozen=True)
class PastRun:
    run_key: str
    started_at: str  # ISO 8601, as the DriftRunStore returns it
    scores: Mapping[str, Score]


def feature_scores(result: DriftResult) -> dict[str, dict[str, Any]]:
    """The `feature_scores` column of this run's row: every feature that has a value, strict JSON."""
    return {
        f.feature: {"value": _json_number(f.value), "threshold": f.threshold, "method": f.method, "drifted": f.drifted}
        for f in result.features
        if f.value is not None
    }


def past_runs(rows: Iterable[Mapping[str, Any]], *, exclude: str | None = None) -> tuple[PastRun, ...]:
    """Rows as `DriftRunStore.history` returns them (newest first) -> runs oldest first.

    `exclude` is this run's key: a redelivery finds its own row when an earlier attempt got as far as
    recording it. A row written before scores were recorded has none (its features show no point).
    """
    runs = []
    for row in rows:
        if row.get("run_key") == exclude:
            continue
        scores = {}
        for feature, entry in _decoded(row.get("feature_scores")).items():
            value = _number(entry.get("value")) if isinstance(entry, Mapping) else None
            if value is None:
                continue
            threshold = _number(entry.get("threshold"))
            method = entry.get("method")
            scores[str(feature)] = Score(value, threshold, str(method) if method else None, bool(entry.get("drifted")))
        runs.append(PastRun(str(row.get("run_key") or ""), str(row.get("started_at") or ""), scores))
    runs.sort(key=lambda run: run.started_at)
    return tuple(runs)


def _decoded(value: Any) -> Mapping[str, Any]:
    """The column as either store gives it: a mapping, JSON text (SQLite, or a client that does not parse
    BigQuery's JSON type), or nothing (a row older than the column)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _json_number(value: float) -> float | str:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return float(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return _NON_FINITE.get(value)
    return None
