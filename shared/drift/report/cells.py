"""Statistics as the report prints them: plain text (the template escapes it), one cell per value."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from shared.drift.report.context import NONE
from shared.drift.statistics import COARSE_BINS, JS_BASE
from shared.drift.verdicts import P_VALUE_METHODS, FeatureDrift

if TYPE_CHECKING:
    pass


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return NONE
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def stat_text(value: float | None) -> str:
    """A statistic in the table: fixed decimals so a column reads at a glance."""
    if value is None or math.isnan(value) or math.isinf(value) or value == 0:
        return fmt(value)
    if abs(value) < 0.001:
        return "<0.001"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.4g}"


def p_value_text(value: float | None) -> str:
    if value is not None and value < 1e-4:  # 0 included: a p-value that underflowed
        return "<0.0001"
    return fmt(value, 2)


def pct(share: float | None) -> str:
    if share is None or math.isnan(share):
        return NONE
    if share == 0:
        return "0%"
    if abs(share) < 0.001:
        return f"{share * 100:.2g}%"
    return f"{share * 100:.1f}%"


def row_count(n: int | None) -> str:
    return NONE if n is None else f"{n:,}"


def when_text(moment: datetime) -> str:
    if moment.tzinfo is not None and moment.utcoffset() == timedelta(0):
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.isoformat(sep=" ", timespec="seconds")


def short_when(iso: str) -> str:
    """A run's start as the sparkline's axis shows it ('2026-11-20 06:00'); the text as is if unparsable."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M")


def method_text(kind: str | None, method: str | None, threshold: float | None) -> str:
    t = fmt(threshold)
    return {
        "wasserstein": f"Wasserstein distance / reference std ≥ {t}",
        "psi": f"PSI ≥ {t}" + (f" (on {COARSE_BINS} reference-quantile bins)" if kind == "numeric" else ""),
        "js": f"Jensen-Shannon distance (base {JS_BASE}) ≥ {t}",
        "ks": f"Kolmogorov-Smirnov p-value < {t}",
        "chi2": f"chi-square p-value < {t}",
    }.get(method or "", f"{method} at {t}")


def value_text(method: str | None, value: float) -> str:
    return f"p {p_value_text(value)}" if method in P_VALUE_METHODS else stat_text(value)


def value_vs_threshold(f: FeatureDrift) -> str:
    if f.value is None or f.threshold is None or f.method is None:
        return NONE
    if f.method in P_VALUE_METHODS:
        sign = "<" if f.value < f.threshold else "≥"
        return f"p {p_value_text(f.value)} {sign} {fmt(f.threshold)}"
    sign = "≥" if f.value >= f.threshold else "<"
    return f"{stat_text(f.value)} {sign} {fmt(f.threshold)}"


class Cell(NamedTuple):
    """A value as the template shows it: `text`, then `q` smaller and grey; `warn` in red; `title` on hover."""

    text: str
    q: str = ""
    warn: bool = False
    title: str = ""
    note: str = ""  # a second line, small


_EMPTY = Cell(NONE)


def ks_cell(f: FeatureDrift) -> Cell:
    if f.ks is None:
        return _EMPTY
    return Cell(stat_text(f.ks), "exact" if f.ks_exact else f"≤ {stat_text(f.ks_upper_bound)}")


def p_cell(f: FeatureDrift) -> Cell:
    if f.ks_p_value is not None:
        return Cell(p_value_text(f.ks_p_value), title="Kolmogorov-Smirnov p-value")
    if f.chi2_p_value is not None:
        return Cell(p_value_text(f.chi2_p_value), "χ²", title="chi-square p-value")
    return _EMPTY


def wasserstein_cell(f: FeatureDrift, *, short: bool = False) -> Cell:
    """The value, then what is proven about it: the bracket the exact value lies in (`exact` when the
    bracket is a point), or, from an engine that gives no bracket, its error bound."""
    if f.wasserstein is None:
        return _EMPTY
    low, high = getattr(f, "wasserstein_low", None), getattr(f, "wasserstein_high", None)
    if low is not None and high is not None:
        if low == high:
            return Cell(stat_text(f.wasserstein), "exact")
        bracket = _bracket(low, high)
        return Cell(
            stat_text(f.wasserstein), bracket if short else f"in {bracket}", title="the exact value lies in [low, high]"
        )
    if f.wasserstein_error is None:
        return Cell(stat_text(f.wasserstein))
    return Cell(stat_text(f.wasserstein), f"± {stat_text(f.wasserstein_error)}")


def _bracket(low: float, high: float) -> str:
    """[low, high] with the digits it takes to tell them apart (0.0501 and 0.0504 both read 0.050)."""
    shown = (stat_text(low), stat_text(high))
    for digits in (4, 5, 6, 7):
        if shown[0] != shown[1]:
            break
        shown = (fmt(low, digits), fmt(high, digits))
    return f"[{shown[0]}, {shown[1]}]"


def missing_cell(f: FeatureDrift) -> Cell:
    if f.reference_missing_share is None and f.current_missing_share is None:
        return _EMPTY
    text = f"{pct(f.reference_missing_share)} → {pct(f.current_missing_share)}"
    return Cell(text, warn=bool(f.missing_change and abs(f.missing_change) >= 0.05))


def unseen_cell(f: FeatureDrift) -> Cell:
    if f.unseen_categories is None:
        return _EMPTY
    if not f.unseen_categories:
        return Cell("0")
    return Cell(f"{f.unseen_categories} ({pct(f.unseen_share)})", warn=True)


def badge(f: FeatureDrift) -> tuple[str, str]:
    """(css class, text)."""
    if f.drifted:
        return "bd", "drifted"
    if f.counted:
        return "bo", "no"
    return "bn", "not judged"
