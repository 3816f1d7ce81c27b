"""The JSON summary machines read: the run as strict JSON, with each feature's history."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.drift.detect import DriftResult
from shared.drift.histograms import NumericHistogram
from shared.drift.history import PastRun
from shared.drift.report.context import Histogram, ReportContext
from shared.drift.statistics import JS_BASE
from shared.drift.verdicts import STATUSES, FeatureDrift

if TYPE_CHECKING:
    pass


def render_json(
    context: ReportContext, result: DriftResult, histograms: Mapping[str, Histogram] | None = None
) -> dict[str, Any]:
    """The run as strict JSON (`json.dumps(..., allow_nan=False)` accepts it).

    Non-finite floats (a constant column whose value changed scores inf, an unbounded Wasserstein
    error is inf) are written as the strings "inf", "-inf" and "nan": JSON has no such numbers, and a
    string keeps what null would lose. Every `FeatureDrift` field is there, in `result.features` order
    (most drifted first), plus a `ks_note` per numeric feature saying whether its KS is exact; given
    the histograms, the note names how many bins a bounded KS was computed on. `history` is each
    feature's value over the earlier runs and this one (see `history_table`), null when not read.
    """
    statuses = Counter(f.status for f in result.features)
    features = []
    for feature in result.features:
        entry = asdict(feature)
        if feature.kind == "numeric":
            entry["ks_note"] = ks_note(feature, (histograms or {}).get(feature.feature))
        features.append(entry)
    summary = {
        "model": context.model,
        "env": context.env,
        "run_key": context.run_key,
        "generated_at": context.generated_at.isoformat(),
        "reference": context.reference,
        "current": context.current,
        "dataset_drifted": result.dataset_drifted,
        "drifted_share": result.drifted_share,
        "drift_share_threshold": context.drift_share,
        "reference_rows": result.reference_rows,
        "current_rows": result.current_rows,
        "features_total": len(result.features),
        "features_judged": sum(f.counted for f in result.features),
        "features_drifted": sum(f.drifted for f in result.features),
        "status_counts": {
            status: statuses.get(status, 0) for status in (*STATUSES, *sorted(set(statuses) - set(STATUSES)))
        },
        "unsupported": dict(result.unsupported),
        "js_base": JS_BASE,
        "non_finite_numbers": 'written as the strings "inf", "-inf", "nan"',
        "features": features,
        "history": history_table(context, result),
    }
    return _strict(summary)


def history_table(context: ReportContext, result: DriftResult) -> dict[str, Any] | None:
    """Each feature's value per run, as one compact table: `runs` and `started_at` are the columns
    (the earlier runs oldest first, this run last), `features` the rows. A run that scored the feature
    with another method (its number means something else) or did not score it has null there."""
    if context.history is None:
        return None
    runs = context.history
    features = {}
    for f in result.features:
        method, threshold = series_method(f, runs)
        if method is None:
            continue
        past = [run.scores.get(f.feature) for run in runs]
        past = [s if s is not None and s.method == method else None for s in past]
        values = [s.value if s else None for s in past]
        drifted = [s.drifted if s else None for s in past]
        values.append(f.value if f.method == method else None)
        drifted.append(f.drifted if f.value is not None and f.method == method else None)
        features[f.feature] = {"method": method, "threshold": threshold, "values": values, "drifted": drifted}
    return {
        "runs": [run.run_key for run in runs] + [context.run_key],
        "started_at": [run.started_at for run in runs] + [context.generated_at.isoformat()],
        "features": features,
    }


def series_method(f: FeatureDrift, runs: Sequence[PastRun]) -> tuple[str | None, float | None]:
    """The method (and threshold) a feature's history is charted in: this run's, else its latest run's."""
    if f.method and f.value is not None:
        return f.method, f.threshold
    for run in reversed(runs):
        score = run.scores.get(f.feature)
        if score is not None and score.method:
            return score.method, score.threshold
    return None, None


def ks_note(feature: FeatureDrift, hist: Histogram | None = None) -> str | None:
    """'KS is exact', or the bracket the true KS lies in and what it was computed on (None: no KS)."""
    if feature.ks is None:
        return None
    if feature.ks_exact:
        return "KS is exact"
    bins = f"{len(hist.cuts) + 1} reference-quantile bins" if isinstance(hist, NumericHistogram) else "fine bins"
    low, high = feature.ks, feature.ks_upper_bound or feature.ks
    if f"{low:.4g}" == f"{high:.4g}":  # closer than the digits shown: say how close
        return f"KS {low:.4g}, within {high - low:.1e} of the exact value: computed on {bins}"
    return f"KS between {low:.4g} and {high:.4g}: computed on {bins}"


def _strict(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
