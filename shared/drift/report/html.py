"""The HTML report: the data the Jinja2 template renders, with autoescaping on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.drift.detect import DriftResult
from shared.drift.histograms import NumericHistogram
from shared.drift.history import PastRun
from shared.drift.report.cells import (
    Cell,
    badge,
    fmt,
    ks_cell,
    method_text,
    missing_cell,
    p_cell,
    p_value_text,
    pct,
    row_count,
    short_when,
    stat_text,
    unseen_cell,
    value_vs_threshold,
    wasserstein_cell,
    when_text,
)
from shared.drift.report.charts import categorical_chart, numeric_chart, trend_chart
from shared.drift.report.context import NONE, Histogram, ReportContext
from shared.drift.report.summary import ks_note
from shared.drift.statistics import COARSE_BINS, JS_BASE
from shared.drift.verdicts import DEFAULT_METHODS, FeatureDrift

if TYPE_CHECKING:
    import jinja2


@cache
def _templates() -> jinja2.Environment:
    """Built on first use: only a run that writes a report compiles the template (a few ms, once)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("shared.drift.report", "templates"),
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
        why = f"{len(drifted)} of {len(judged)} judged features drifted: share {pct(result.drifted_share)}"
        if threshold is not None:
            why += f" {'≥' if result.drifted_share >= threshold else '<'} threshold {pct(threshold)}"
    statuses = Counter(f.status for f in result.features)
    kinds = Counter(f.kind for f in result.features if f.kind)
    status_text = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in statuses.most_common())
    kind_text = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    rows: list[tuple[str, str, bool]] = [  # (label, text, as code)
        ("Reference", f"{row_count(result.reference_rows)} rows · {context.reference}", False),
        ("Current", f"{row_count(result.current_rows)} rows · {context.current}", False),
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
        span = f"{short_when(first)} to {short_when(last)}" if len(context.history) > 1 else short_when(first)
        runs = f"{len(context.history)} run{'s' * (len(context.history) != 1)}"
        rows.append(("Earlier runs", f"{runs}, {span}, charted for each feature", False))
    else:
        rows.append(("Earlier runs", "none recorded: this is the first", False))
    rows += [("Generated", when_text(context.generated_at), False), ("Run key", context.run_key, True)]
    return {"kind": kind, "verdict": verdict, "why": why, "rows": rows}


def _methods(result: DriftResult, threshold: float | None) -> dict[str, Any]:
    used = Counter((f.kind, f.method, f.threshold) for f in result.features if f.kind and f.method)
    items = [
        (kind, method_text(kind, method, t), n)
        for (kind, method, t), n in sorted(used.items(), key=lambda item: (item[0][0], -item[1]))
    ]
    num_method, num_t = DEFAULT_METHODS["numeric"]
    cat_method, cat_t = DEFAULT_METHODS["categorical"]
    return {
        "used": items,
        "numeric_default": method_text("numeric", num_method, num_t),
        "categorical_default": method_text("categorical", cat_method, cat_t),
        "js_base": JS_BASE,
        "coarse_bins": COARSE_BINS,
        "share": f" reaches {pct(threshold)}" if threshold is not None else " reaches the threshold",
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
        chart = numeric_chart(hist)
    else:
        chart = categorical_chart(hist)
    resolution = getattr(f, "resolution", None)
    how = getattr(f, "resolution_detail", None) or ""
    trend = trend_chart(f, history, small=False) if history else None
    return {
        "index": index,
        "name": f.feature,
        "kind": f.kind,
        "status": f.status.replace("_", " "),
        "ok": f.status == "ok",
        "drifted": f.drifted,
        "badge": badge(f),
        "detail": f.detail or f.status,
        "note": f.detail if f.detail and not why_not else "",
        "how": how,
        "how_warn": resolution == "estimate",  # the bracket straddles the threshold: the verdict is a best guess
        "cells": [
            Cell(f.method or NONE),
            Cell(value_vs_threshold(f)),
            Cell(stat_text(f.psi)),
            Cell(stat_text(f.js)),
            ks_cell(f),
            p_cell(f),
            wasserstein_cell(f, short=True),
            missing_cell(f),
            unseen_cell(f),
        ],
        "chart": chart,
        "why_not": why_not,
        "stats": _stats(f, hist),
        "trend": trend_chart(f, history, small=True) if trend and history else None,  # the table's thumbnail
        "history": trend,
        # Earlier runs exist, none scored this feature with its method: the section says so.
        "no_history": trend is None and bool(history) and f.value is not None,
    }


def _stats(f: FeatureDrift, hist: Histogram | None) -> list[tuple[str, Cell]]:
    rows: list[tuple[str, Cell]] = []
    if f.method:
        rows.append(("method", Cell(method_text(f.kind, f.method, f.threshold))))
    if f.value is not None:
        rows.append(("value", Cell(value_vs_threshold(f))))
    if f.reference_rows is not None or f.current_rows is not None:
        rows.append(("rows", Cell(f"{row_count(f.reference_rows)} → {row_count(f.current_rows)}")))
    if f.reference_missing_share is not None or f.current_missing_share is not None:
        rows.append(("missing", missing_cell(f)))
    if isinstance(hist, NumericHistogram):
        for name in ("mean", "std", "minimum", "maximum"):
            before, after = getattr(hist.reference, name), getattr(hist.current, name)
            if before is not None or after is not None:
                rows.append((name.replace("imum", ""), Cell(f"{fmt(before, 4)} → {fmt(after, 4)}")))
    if f.psi is not None:
        rows.append(("PSI", Cell(stat_text(f.psi))))
    if f.js is not None:
        rows.append((f"JS (base {JS_BASE})", Cell(stat_text(f.js))))
    if f.ks is not None:
        rows.append(("KS", ks_cell(f)._replace(note=ks_note(f, hist) or "")))
        rows.append(("KS p-value", Cell(p_value_text(f.ks_p_value))))
    if f.wasserstein is not None:
        rows.append(("Wasserstein/std", wasserstein_cell(f)))
    if f.chi2 is not None:
        rows.append(("chi-square", Cell(fmt(f.chi2, 4), f"df {f.chi2_df}")))
        rows.append(("chi-square p", Cell(p_value_text(f.chi2_p_value))))
    if f.unseen_categories is not None:
        rows.append(("unseen", unseen_cell(f)))
    return rows
