"""The drift report people read (one self-contained HTML file) and the JSON summary machines read.

Pure functions: a `DriftResult` (and the histograms behind it) in, a string or a dict out; the caller
writes them to storage. The HTML carries no JavaScript and references nothing outside itself (an
inline style sheet, inline SVG charts, system fonts), so it opens the same from a bucket, a mail
attachment or an offline laptop, and it stays small: about 190 KB for 25 features, where a report
that ships a charting bundle weighs 5 MB whatever the data (users reported 600 MB ones).

The markup is a Jinja2 template (`templates/report.html.j2`) with autoescaping on: this module hands
it plain text and numbers (chart geometry included), never markup, so every string that comes from
data or configuration (model, feature and category names, sources, run keys, `<0.0001`) is escaped
by the engine, not by each place that writes one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from shared.drift.detect import DriftResult
from shared.drift.histograms import OTHER, CategoricalHistogram, NumericHistogram
from shared.drift.history import PastRun
from shared.drift.statistics import (
    COARSE_BINS,
    DEFAULT_METHODS,
    JS_BASE,
    P_VALUE_METHODS,
    STATUSES,
    FeatureDrift,
    coarse_bins,
)

if TYPE_CHECKING:
    import jinja2

Histogram = NumericHistogram | CategoricalHistogram

_NONE = "\N{EN DASH}"  # a statistic that does not apply
TOP_CATEGORIES = 20  # categories charted per feature, by reference count; the rest pooled in one row
P_FLOOR = 1e-12  # p-values are charted as -log10(p), this small and smaller at the top
_METHOD_NAMES = {
    "wasserstein": "Wasserstein/std",
    "psi": "PSI",
    "js": "JS distance",
    "ks": "KS p-value",
    "chi2": "chi-square p-value",
}


@dataclass(frozen=True)
class ReportContext:
    """What the report says about the run, besides the statistics."""

    model: str
    env: str
    run_key: str
    generated_at: datetime
    reference: str  # the sources in words: "gs://b/ref/*.parquet", "table x, 2026-11-20T00:00 to ..."
    current: str
    drift_share: float | None = None  # the dataset's drifted-share threshold, when the caller knows it
    # The model's earlier runs, oldest first (`history.past_runs`); () when there are none, None when
    # they were not read (the report then says so and charts no history).
    history: tuple[PastRun, ...] | None = None


# -- JSON -----------------------------------------------------------------------------------------


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
        method, threshold = _series_method(f, runs)
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


def _series_method(f: FeatureDrift, runs: Sequence[PastRun]) -> tuple[str | None, float | None]:
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


# -- formatting: plain text, the template escapes it -----------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return _NONE
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def _stat(value: float | None) -> str:
    """A statistic in the table: fixed decimals so a column reads at a glance."""
    if value is None or math.isnan(value) or math.isinf(value) or value == 0:
        return _fmt(value)
    if abs(value) < 0.001:
        return "<0.001"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.4g}"


def _p(value: float | None) -> str:
    if value is not None and value < 1e-4:  # 0 included: a p-value that underflowed
        return "<0.0001"
    return _fmt(value, 2)


def _pct(share: float | None) -> str:
    if share is None or math.isnan(share):
        return _NONE
    if share == 0:
        return "0%"
    if abs(share) < 0.001:
        return f"{share * 100:.2g}%"
    return f"{share * 100:.1f}%"


def _rows(n: int | None) -> str:
    return _NONE if n is None else f"{n:,}"


def _when(moment: datetime) -> str:
    if moment.tzinfo is not None and moment.utcoffset() == timedelta(0):
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.isoformat(sep=" ", timespec="seconds")


def _short_when(iso: str) -> str:
    """A run's start as the sparkline's axis shows it ('2026-11-20 06:00'); the text as is if unparsable."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M")


def _method_text(kind: str | None, method: str | None, threshold: float | None) -> str:
    t = _fmt(threshold)
    return {
        "wasserstein": f"Wasserstein distance / reference std ≥ {t}",
        "psi": f"PSI ≥ {t}" + (f" (on {COARSE_BINS} reference-quantile bins)" if kind == "numeric" else ""),
        "js": f"Jensen-Shannon distance (base {JS_BASE}) ≥ {t}",
        "ks": f"Kolmogorov-Smirnov p-value < {t}",
        "chi2": f"chi-square p-value < {t}",
    }.get(method or "", f"{method} at {t}")


def _value_text(method: str | None, value: float) -> str:
    return f"p {_p(value)}" if method in P_VALUE_METHODS else _stat(value)


def _value_vs_threshold(f: FeatureDrift) -> str:
    if f.value is None or f.threshold is None or f.method is None:
        return _NONE
    if f.method in P_VALUE_METHODS:
        sign = "<" if f.value < f.threshold else "≥"
        return f"p {_p(f.value)} {sign} {_fmt(f.threshold)}"
    sign = "≥" if f.value >= f.threshold else "<"
    return f"{_stat(f.value)} {sign} {_fmt(f.threshold)}"


class Cell(NamedTuple):
    """A value as the template shows it: `text`, then `q` smaller and grey; `warn` in red; `title` on hover."""

    text: str
    q: str = ""
    warn: bool = False
    title: str = ""
    note: str = ""  # a second line, small


_EMPTY = Cell(_NONE)


def _ks_cell(f: FeatureDrift) -> Cell:
    if f.ks is None:
        return _EMPTY
    return Cell(_stat(f.ks), "exact" if f.ks_exact else f"≤ {_stat(f.ks_upper_bound)}")


def _p_cell(f: FeatureDrift) -> Cell:
    if f.ks_p_value is not None:
        return Cell(_p(f.ks_p_value), title="Kolmogorov-Smirnov p-value")
    if f.chi2_p_value is not None:
        return Cell(_p(f.chi2_p_value), "χ²", title="chi-square p-value")
    return _EMPTY


def _wasserstein_cell(f: FeatureDrift, *, short: bool = False) -> Cell:
    """The value, then what is proven about it: the bracket the exact value lies in (`exact` when the
    bracket is a point), or, from an engine that gives no bracket, its error bound."""
    if f.wasserstein is None:
        return _EMPTY
    low, high = getattr(f, "wasserstein_low", None), getattr(f, "wasserstein_high", None)
    if low is not None and high is not None:
        if low == high:
            return Cell(_stat(f.wasserstein), "exact")
        bracket = _bracket(low, high)
        return Cell(
            _stat(f.wasserstein), bracket if short else f"in {bracket}", title="the exact value lies in [low, high]"
        )
    if f.wasserstein_error is None:
        return Cell(_stat(f.wasserstein))
    return Cell(_stat(f.wasserstein), f"± {_stat(f.wasserstein_error)}")


def _bracket(low: float, high: float) -> str:
    """[low, high] with the digits it takes to tell them apart (0.0501 and 0.0504 both read 0.050)."""
    shown = (_stat(low), _stat(high))
    for digits in (4, 5, 6, 7):
        if shown[0] != shown[1]:
            break
        shown = (_fmt(low, digits), _fmt(high, digits))
    return f"[{shown[0]}, {shown[1]}]"


def _missing_cell(f: FeatureDrift) -> Cell:
    if f.reference_missing_share is None and f.current_missing_share is None:
        return _EMPTY
    text = f"{_pct(f.reference_missing_share)} → {_pct(f.current_missing_share)}"
    return Cell(text, warn=bool(f.missing_change and abs(f.missing_change) >= 0.05))


def _unseen_cell(f: FeatureDrift) -> Cell:
    if f.unseen_categories is None:
        return _EMPTY
    if not f.unseen_categories:
        return Cell("0")
    return Cell(f"{f.unseen_categories} ({_pct(f.unseen_share)})", warn=True)


def _badge(f: FeatureDrift) -> tuple[str, str]:
    """(css class, text)."""
    if f.drifted:
        return "bd", "drifted"
    if f.counted:
        return "bo", "no"
    return "bn", "not judged"


# -- HTML -----------------------------------------------------------------------------------------


@cache
def _templates() -> jinja2.Environment:
    """Built on first use: only a run that writes a report compiles the template (a few ms, once)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("shared.drift", "templates"),
        autoescape=True,  # every template, whatever its name: nothing reaches the page unescaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(context: ReportContext, result: DriftResult, histograms: Mapping[str, Histogram]) -> str:
    """The report as one HTML document: summary, feature table, one section per feature with its chart.

    Anchors are by position (`#f-3`), never by name.
    """
    history = context.history
    return (
        _templates()
        .get_template("report.html.j2")
        .render(
            title=f"Drift report: {context.model} ({context.env})",
            summary=_summary(context, result),
            methods=_methods(result, context.drift_share),
            head=_HEAD,
            features=[_feature(i, f, histograms.get(f.feature), history) for i, f in enumerate(result.features)],
        )
    )


def _summary(context: ReportContext, result: DriftResult) -> dict[str, Any]:
    judged = [f for f in result.features if f.counted]
    drifted = [f for f in result.features if f.drifted]
    threshold = context.drift_share
    if not judged:
        kind, verdict = "none", "No dataset drift"
        why = "no feature could be judged" + (": the current window has no rows" if result.current_rows == 0 else "")
    else:
        if result.dataset_drifted:
            kind, verdict = "drift", "DRIFT DETECTED"
        else:  # amber when some features drifted: "no dataset drift" must not read as "nothing moved"
            kind, verdict = ("some" if drifted else "ok"), "No dataset drift"
        why = f"{len(drifted)} of {len(judged)} judged features drifted: share {_pct(result.drifted_share)}"
        if threshold is not None:
            why += f" {'≥' if result.drifted_share >= threshold else '<'} threshold {_pct(threshold)}"
    statuses = Counter(f.status for f in result.features)
    kinds = Counter(f.kind for f in result.features if f.kind)
    status_text = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in statuses.most_common())
    kind_text = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    rows: list[tuple[str, str, bool]] = [  # (label, text, as code)
        ("Reference", f"{_rows(result.reference_rows)} rows · {context.reference}", False),
        ("Current", f"{_rows(result.current_rows)} rows · {context.current}", False),
        ("Features", f"{len(result.features)} ({kind_text or 'none'}) · {status_text or 'none'}", False),
    ]
    if drifted:
        names = ", ".join(f.feature for f in drifted[:12]) + (", …" if len(drifted) > 12 else "")
        rows.append(("Drifted", names, False))
    if result.unsupported:
        skipped = ", ".join(f"{name} ({kind})" for name, kind in result.unsupported.items())
        rows.append(("Not analysed", f"unsupported column types: {skipped}", False))
    if context.history is None:
        rows.append(("Earlier runs", "not available: no history is charted", False))
    elif context.history:
        first, last = context.history[0].started_at, context.history[-1].started_at
        span = f"{_short_when(first)} to {_short_when(last)}" if len(context.history) > 1 else _short_when(first)
        runs = f"{len(context.history)} run{'s' * (len(context.history) != 1)}"
        rows.append(("Earlier runs", f"{runs}, {span}, charted for each feature", False))
    else:
        rows.append(("Earlier runs", "none recorded: this is the first", False))
    rows += [("Generated", _when(context.generated_at), False), ("Run key", context.run_key, True)]
    return {"kind": kind, "verdict": verdict, "why": why, "rows": rows}


def _methods(result: DriftResult, threshold: float | None) -> dict[str, Any]:
    used = Counter((f.kind, f.method, f.threshold) for f in result.features if f.kind and f.method)
    items = [
        (kind, _method_text(kind, method, t), n)
        for (kind, method, t), n in sorted(used.items(), key=lambda item: (item[0][0], -item[1]))
    ]
    num_method, num_t = DEFAULT_METHODS["numeric"]
    cat_method, cat_t = DEFAULT_METHODS["categorical"]
    return {
        "used": items,
        "numeric_default": _method_text("numeric", num_method, num_t),
        "categorical_default": _method_text("categorical", cat_method, cat_t),
        "js_base": JS_BASE,
        "coarse_bins": COARSE_BINS,
        "share": f" reaches {_pct(threshold)}" if threshold is not None else " reaches the threshold",
    }


_HEAD = (  # (column, a second line under it)
    ("feature", ""),
    ("kind", ""),
    ("status", ""),
    ("drifted", ""),
    ("method", ""),
    ("value", "vs threshold"),  # and, given the history, the value's trend under it
    ("PSI", ""),
    ("JS", f"base {JS_BASE}"),
    ("KS", "≤ bound"),
    ("p-value", "KS or χ²"),
    ("Wasserstein", "/std, bounds"),
    ("missing", "ref → cur"),
    ("unseen", "categories"),
)


def _feature(index: int, f: FeatureDrift, hist: Histogram | None, history: Sequence[PastRun] | None) -> dict:
    """What the table row and the section show of one feature."""
    why_not = ""
    chart: dict[str, Any] | None = None
    if hist is None:
        why_not = f.detail or "no histogram for this feature"
    elif sum(hist.reference_counts) == 0 or (
        sum(hist.current_counts) + getattr(hist, "unseen_total", 0) == 0  # unseen only: still a chart
    ):
        why_not = f.detail or "no values on one side"
    elif isinstance(hist, NumericHistogram):
        chart = _numeric_chart(hist)
    else:
        chart = _categorical_chart(hist)
    resolution = getattr(f, "resolution", None)
    how = getattr(f, "resolution_detail", None) or ""
    trend = _trend(f, history, small=False) if history else None
    return {
        "index": index,
        "name": f.feature,
        "kind": f.kind,
        "status": f.status.replace("_", " "),
        "ok": f.status == "ok",
        "drifted": f.drifted,
        "badge": _badge(f),
        "detail": f.detail or f.status,
        "note": f.detail if f.detail and not why_not else "",
        "how": how,
        "how_warn": resolution == "estimate",  # the bracket straddles the threshold: the verdict is a best guess
        "cells": [
            Cell(f.method or _NONE),
            Cell(_value_vs_threshold(f)),
            Cell(_stat(f.psi)),
            Cell(_stat(f.js)),
            _ks_cell(f),
            _p_cell(f),
            _wasserstein_cell(f, short=True),
            _missing_cell(f),
            _unseen_cell(f),
        ],
        "chart": chart,
        "why_not": why_not,
        "stats": _stats(f, hist),
        "trend": _trend(f, history, small=True) if trend else None,  # the table's thumbnail
        "history": trend,
        # Earlier runs exist, none scored this feature with its method: the section says so.
        "no_history": trend is None and bool(history) and f.value is not None,
    }


def _stats(f: FeatureDrift, hist: Histogram | None) -> list[tuple[str, Cell]]:
    rows: list[tuple[str, Cell]] = []
    if f.method:
        rows.append(("method", Cell(_method_text(f.kind, f.method, f.threshold))))
    if f.value is not None:
        rows.append(("value", Cell(_value_vs_threshold(f))))
    if f.reference_rows is not None or f.current_rows is not None:
        rows.append(("rows", Cell(f"{_rows(f.reference_rows)} → {_rows(f.current_rows)}")))
    if f.reference_missing_share is not None or f.current_missing_share is not None:
        rows.append(("missing", _missing_cell(f)))
    if isinstance(hist, NumericHistogram):
        for name in ("mean", "std", "minimum", "maximum"):
            before, after = getattr(hist.reference, name), getattr(hist.current, name)
            if before is not None or after is not None:
                rows.append((name.replace("imum", ""), Cell(f"{_fmt(before, 4)} → {_fmt(after, 4)}")))
    if f.psi is not None:
        rows.append(("PSI", Cell(_stat(f.psi))))
    if f.js is not None:
        rows.append((f"JS (base {JS_BASE})", Cell(_stat(f.js))))
    if f.ks is not None:
        rows.append(("KS", _ks_cell(f)._replace(note=ks_note(f, hist) or "")))
        rows.append(("KS p-value", Cell(_p(f.ks_p_value))))
    if f.wasserstein is not None:
        rows.append(("Wasserstein/std", _wasserstein_cell(f)))
    if f.chi2 is not None:
        rows.append(("chi-square", Cell(_fmt(f.chi2, 4), f"df {f.chi2_df}")))
        rows.append(("chi-square p", Cell(_p(f.chi2_p_value))))
    if f.unseen_categories is not None:
        rows.append(("unseen", _unseen_cell(f)))
    return rows


# -- charts (inline SVG): geometry here, markup in the template ---------------------------------------


def _ticks(value: float, most: int = 5) -> list[float]:
    """Round tick values from 0 to at least `value`: a step of 1, 2, 2.5 or 5 x 10^k, at most `most` steps."""
    if value <= 0:
        return [0.0, 1.0]
    power = 10 ** math.floor(math.log10(value / most))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power * most >= value * 0.999999)
    return [step * k for k in range(math.ceil(value / step - 1e-9) + 1)]


def _tick_label(share: float) -> str:
    return f"{round(share * 100, 6):g}%"


def _coarse_edges(hist: NumericHistogram, ref: np.ndarray, cur: np.ndarray) -> list[float]:
    """Value at each coarse bin boundary: the data's min, the cut each coarse bin ends at, the data's max.

    Read back from the coarse counts, so they agree with `coarse_bins` whatever it merges: a coarse
    bin ends at the first fine bin where the cumulative count (both sides) reaches the coarse one.
    """
    fine = np.cumsum(np.asarray(hist.reference_counts, dtype=np.int64) + np.asarray(hist.current_counts))
    ends = np.searchsorted(fine, np.cumsum(ref + cur), side="left")
    ends[-1] = len(fine) - 1  # the last coarse bin runs to +inf, past the reference's range
    lows = [s.minimum for s in (hist.reference, hist.current) if s.minimum is not None]
    highs = [s.maximum for s in (hist.reference, hist.current) if s.maximum is not None]
    low, high = (min(lows), max(highs)) if lows and highs else (-math.inf, math.inf)
    inner = [hist.cuts[e] if e < len(hist.cuts) else high for e in ends[:-1]]
    return [low, *(min(max(v, low), high) for v in inner), high]


def _n(value: float) -> str:
    """A coordinate in the SVG."""
    return f"{value:.1f}"


def _numeric_chart(hist: NumericHistogram) -> dict[str, Any]:
    ref, cur = coarse_bins(hist)
    if len(ref) == 1:  # one bin holds every value (a constant, a narrow integer range): bars would say nothing
        sides = []
        for name, summary in (("reference", hist.reference), ("current", hist.current)):
            low, high = summary.minimum, summary.maximum
            value = f"always {_fmt(low, 6)}" if low == high else f"from {_fmt(low, 6)} to {_fmt(high, 6)}"
            sides.append(f"{name} {value}")
        return {"type": "note", "text": f"One bin holds every value: {'; '.join(sides)}."}
    edges = _coarse_edges(hist, ref, cur)
    ref_share, cur_share = ref / ref.sum(), cur / cur.sum()
    width, height, left, right, top, bottom = 720, 230, 46, 14, 12, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = _ticks(float(max(ref_share.max(), cur_share.max())))
    y_top = ticks[-1]
    slot = plot_w / len(ref)
    grid = []
    for tick in ticks:
        y = top + plot_h * (1 - tick / y_top)
        grid.append({"y": _n(y), "label_y": _n(y + 4), "label": _tick_label(tick)})
    bars = []
    for i in range(len(ref)):
        x0 = left + i * slot
        lo, hi = edges[i], edges[i + 1]
        span = f"[{_fmt(lo, 4)}, {_fmt(hi, 4)}]" if i == 0 else f"({_fmt(lo, 4)}, {_fmt(hi, 4)}]"
        tip = f"bin {i + 1}, values in {span}: reference {_pct(ref_share[i])}, current {_pct(cur_share[i])}"
        for cls, share, dx in (("r", ref_share[i], 0.1), ("c", cur_share[i], 0.5)):
            h = plot_h * share / y_top
            bars.append(dict(cls=cls, x=_n(x0 + slot * dx), y=_n(top + plot_h - h), w=_n(slot * 0.4), h=_n(h), tip=tip))
    base = top + plot_h
    axis = []
    for i, edge in enumerate(edges):
        anchor = "start" if i == 0 else ("end" if i == len(edges) - 1 else "middle")
        axis.append({"x": _n(left + i * slot), "label": _fmt(edge, 4), "anchor": anchor})
    return {
        "type": "numeric",
        "feature": hist.feature,
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "base": base,
        "grid": grid,
        "bars": bars,
        "axis": axis,
        "caption": f"bins of about {100 / len(ref):.0f}% of the reference each"
        " (edges: reference quantiles, data min and max)",
        "caption_x": _n(left + plot_w / 2),
        "caption_y": height - 8,
    }


def _categorical_chart(hist: CategoricalHistogram) -> dict[str, Any]:
    ref_total = sum(hist.reference_counts) or 1
    cur_total = (sum(hist.current_counts) + hist.unseen_total) or 1
    named = [(c, r, k) for c, r, k in zip(hist.categories, hist.reference_counts, hist.current_counts, strict=True)]
    ranked = sorted((item for item in named if item[0] != OTHER), key=lambda item: -item[1])
    shown, rest = ranked[:TOP_CATEGORIES], ranked[TOP_CATEGORIES:]
    rows: list[tuple[str, float | None, float, str]] = [(c, r / ref_total, k / cur_total, "") for c, r, k in shown]
    pooled = rest + [item for item in named if item[0] == OTHER]
    if pooled:
        label = "all other categories" if any(c == OTHER for c, _, _ in pooled) else f"{len(rest)} other categories"
        rows.append((label, sum(r for _, r, _ in pooled) / ref_total, sum(k for _, _, k in pooled) / cur_total, "pool"))
    for name, count in hist.unseen.items():
        rows.append((name, None, count / cur_total, "new"))
    unlisted = hist.unseen_total - sum(hist.unseen.values())
    if unlisted > 0:
        rows.append(("other unseen categories", None, unlisted / cur_total, "pool new"))

    width, label_w, value_w, row_h, top = 720, 190, 52, 24, 4
    bar_w = width - label_w - value_w
    height = top + row_h * len(rows) + 4
    x_top = max(max(r or 0.0, c) for _, r, c, _ in rows) or 1.0
    out = []
    for j, (name, ref_share, cur_share, tag) in enumerate(rows):
        y = top + j * row_h
        new = "new" in tag
        shown_name = name if len(name) <= 26 else name[:25] + "…"
        if new and "pool" not in tag:
            shown_name = "new: " + (name if len(name) <= 21 else name[:20] + "…")
        tip = (
            f"{name}{' (never in the reference)' if new else ''}: "
            f"reference {_pct(ref_share) if ref_share is not None else '0%'}, current {_pct(cur_share)}"
        )
        bars = []
        for cls, share, dy in [("u", cur_share, 12)] if new else [("r", ref_share or 0.0, 3), ("c", cur_share, 12)]:
            w = bar_w * share / x_top
            bars.append(
                dict(cls=cls, y=y + dy, w=_n(w), label_x=_n(label_w + w + 4), label_y=y + dy + 8, pct=_pct(share))
            )
        out.append(
            dict(label=shown_name, label_y=y + 16, cls="t" if tag else "tl", italic="pool" in tag, tip=tip, bars=bars)
        )
    return {
        "type": "categorical",
        "feature": hist.feature,
        "width": width,
        "height": height,
        "label_w": label_w,
        "rows": out,
        "unseen": bool(hist.unseen_total),
    }


def _plotted(method: str | None, value: float) -> float:
    """The height a value is charted at, larger meaning more drift: a distance as is, a p-value as -log10(p)."""
    if method in P_VALUE_METHODS:
        return -math.log10(min(max(value, P_FLOOR), 1.0))
    return value


def _trend(f: FeatureDrift, history: Sequence[PastRun], *, small: bool) -> dict[str, Any] | None:
    """A sparkline of the feature's value over the earlier runs and this one, its threshold as a line.

    Only runs that scored the feature with the method charted (this run's, or its latest) are points: a
    PSI next to a Wasserstein distance would draw a line between unrelated numbers. None: no earlier run
    scored the feature so.
    """
    method, threshold = _series_method(f, history)
    if method is None:
        return None
    points: list[tuple[str, float, bool, bool]] = []  # (when, value, drifted, this run), oldest first
    other_method = 0
    for run in history:
        score = run.scores.get(f.feature)
        if score is None:
            continue
        if score.method != method:
            other_method += 1
            continue
        points.append((_short_when(run.started_at), score.value, score.drifted, False))
    past = len(points)
    if f.value is not None and f.method == method:
        points.append(("this run", f.value, f.drifted, True))
    if past == 0:  # nothing earlier to compare with: one dot would chart nothing
        return None
    width, height = (72, 20) if small else (300, 92)
    left, right, top, bottom = (3, 3, 3, 3) if small else (44, 8, 8, 18)
    heights = [_plotted(method, v) for _, v, _, _ in points if not math.isnan(v)]
    finite = [h for h in heights if math.isfinite(h)]
    line = _plotted(method, threshold) if threshold is not None else None
    low = min([0.0, *finite])
    high = max([*finite, line if line is not None and math.isfinite(line) else 0.0]) * 1.15 or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def y_of(h: float) -> float:
        h = min(max(h, low), high)  # inf at the top
        return top + plot_h * (1 - (h - low) / (high - low))

    step = plot_w / max(len(points) - 1, 1)
    dots = []
    for i, (when, value, drifted, current) in enumerate(points):
        if math.isnan(value):
            continue
        x = left + (i * step if len(points) > 1 else plot_w / 2)
        tip = f"{when}: {_value_text(method, value)}{' (drifted)' if drifted else ''}"
        y = _n(y_of(_plotted(method, value)))
        dots.append(dict(x=_n(x), y=y, drifted=drifted, current=current, tip=tip))
    label = f"{_METHOD_NAMES.get(method, method)} over {past} earlier run{'s' * (past != 1)}"
    if points[-1][3]:
        label += " and this one"
    notes = ["dashed: the threshold · red: drifted · ringed: this run"]
    if other_method:
        notes.append(f"{other_method} earlier run{'s' * (other_method != 1)} used another method: not charted")
    if method in P_VALUE_METHODS:
        notes.append(f"p-values on a log scale, smaller (more drift) higher; below {P_FLOOR:g} at the top")
    threshold_y = y_of(line) if line is not None else None

    def clear_of_threshold(y: float) -> bool:  # an axis label that would overlap the threshold's is left out
        return threshold_y is None or abs(y - threshold_y) >= 11

    top_value = high if method not in P_VALUE_METHODS else 10**-high
    bottom_value = low if method not in P_VALUE_METHODS else 10**-low
    return {
        "small": small,
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": top + plot_h,
        "polyline": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "dots": dots,
        "series": ", ".join(_value_text(method, v) for _, v, _, _ in points),
        "threshold_y": _n(threshold_y) if threshold_y is not None else None,
        "threshold": _value_text(method, threshold) if threshold is not None else "",
        "high": _value_text(method, top_value) if clear_of_threshold(top) else "",
        "low": _value_text(method, bottom_value) if clear_of_threshold(top + plot_h) else "",
        "label": label,
        "first": points[0][0],
        "notes": notes,
    }
