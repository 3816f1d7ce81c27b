"""Inline SVG charts: the geometry here, the markup in the template (charts.html.j2)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.drift.histograms import OTHER, CategoricalHistogram, NumericHistogram
from shared.drift.history import PastRun
from shared.drift.report.cells import fmt, pct, short_when, value_text
from shared.drift.report.context import METHOD_NAMES, P_FLOOR, TOP_CATEGORIES
from shared.drift.report.summary import series_method
from shared.drift.statistics import coarse_bins
from shared.drift.verdicts import P_VALUE_METHODS, FeatureDrift

if TYPE_CHECKING:
    pass


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


def numeric_chart(hist: NumericHistogram) -> dict[str, Any]:
    ref, cur = coarse_bins(hist)
    if len(ref) == 1:  # one bin holds every value (a constant, a narrow integer range): bars would say nothing
        sides = []
        for name, summary in (("reference", hist.reference), ("current", hist.current)):
            low, high = summary.minimum, summary.maximum
            value = f"always {fmt(low, 6)}" if low == high else f"from {fmt(low, 6)} to {fmt(high, 6)}"
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
        span = f"[{fmt(lo, 4)}, {fmt(hi, 4)}]" if i == 0 else f"({fmt(lo, 4)}, {fmt(hi, 4)}]"
        tip = f"bin {i + 1}, values in {span}: reference {pct(ref_share[i])}, current {pct(cur_share[i])}"
        for cls, share, dx in (("r", ref_share[i], 0.1), ("c", cur_share[i], 0.5)):
            h = plot_h * share / y_top
            bars.append(dict(cls=cls, x=_n(x0 + slot * dx), y=_n(top + plot_h - h), w=_n(slot * 0.4), h=_n(h), tip=tip))
    base = top + plot_h
    axis = []
    for i, edge in enumerate(edges):
        anchor = "start" if i == 0 else ("end" if i == len(edges) - 1 else "middle")
        axis.append({"x": _n(left + i * slot), "label": fmt(edge, 4), "anchor": anchor})
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


def categorical_chart(hist: CategoricalHistogram) -> dict[str, Any]:
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
            f"reference {pct(ref_share) if ref_share is not None else '0%'}, current {pct(cur_share)}"
        )
        bars = []
        for cls, share, dy in [("u", cur_share, 12)] if new else [("r", ref_share or 0.0, 3), ("c", cur_share, 12)]:
            w = bar_w * share / x_top
            bars.append(
                dict(cls=cls, y=y + dy, w=_n(w), label_x=_n(label_w + w + 4), label_y=y + dy + 8, pct=pct(share))
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


def trend_chart(f: FeatureDrift, history: Sequence[PastRun], *, small: bool) -> dict[str, Any] | None:
    """A sparkline of the feature's value over the earlier runs and this one, its threshold as a line.

    Only runs that scored the feature with the method charted (this run's, or its latest) are points: a
    PSI next to a Wasserstein distance would draw a line between unrelated numbers. None: no earlier run
    scored the feature so.
    """
    method, threshold = series_method(f, history)
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
        points.append((short_when(run.started_at), score.value, score.drifted, False))
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
        tip = f"{when}: {value_text(method, value)}{' (drifted)' if drifted else ''}"
        y = _n(y_of(_plotted(method, value)))
        dots.append(dict(x=_n(x), y=y, drifted=drifted, current=current, tip=tip))
    label = f"{METHOD_NAMES.get(method, method)} over {past} earlier run{'s' * (past != 1)}"
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
        "series": ", ".join(value_text(method, v) for _, v, _, _ in points),
        "threshold_y": _n(threshold_y) if threshold_y is not None else None,
        "threshold": value_text(method, threshold) if threshold is not None else "",
        "high": value_text(method, top_value) if clear_of_threshold(top) else "",
        "low": value_text(method, bottom_value) if clear_of_threshold(top + plot_h) else "",
        "label": label,
        "first": points[0][0],
        "notes": notes,
    }
