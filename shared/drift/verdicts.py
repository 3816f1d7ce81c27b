"""The drift verdict of one feature and of the dataset: which statistic decides, against which threshold,
and how sure the decision is.

`feature_drift` computes every statistic that applies to a feature's histograms (`statistics`), picks
the configured method's number, and where the bins leave it in doubt brackets it (`refine`); the
numbers themselves live in `statistics`, which knows nothing of methods or thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.drift.histograms import CategoricalHistogram, NumericHistogram
from shared.drift.refine import NumericBounds, first_pass_bounds
from shared.drift.statistics import (
    COARSE_BINS,
    Histogram,
    KsResult,
    NormedWasserstein,
    chi_square,
    chi_square_df,
    coarse_bins,
    js_distance,
    ks_from_histogram,
    ks_p_value,
    missing_share_change,
    psi,
    wasserstein_normed_bracket,
)

NUMERIC_METHODS = ("wasserstein", "psi", "js", "ks")
CATEGORICAL_METHODS = ("js", "psi", "chi2")
P_VALUE_METHODS = ("ks", "chi2")  # drift when p < threshold; the others when value >= threshold

# How a verdict was reached: every number it used was exact; a proven bracket clear of the threshold;
# exact or clear after a second, targeted pass over both sides; or (only when no second pass could be
# made) taken from the estimate inside a bracket that straddles the threshold.
RESOLUTIONS = ("exact", "bracket", "refined", "estimate")

STATUSES = ("ok", "constant", "no_current_data", "no_reference_data", "all_missing", "missing_column")

DEFAULT_METHODS: dict[str, tuple[str, float]] = {
    "numeric": ("wasserstein", 0.1),
    "categorical": ("js", 0.1),
}
"""Method and threshold per feature kind when the configuration names none.

Distances with a fixed threshold, not p-values: a test's p-value measures how sure we are that
*anything* changed, and with a million rows everything has changed a little (alibi-detect's KS at
p < 0.05 flags unchanged columns at 1M rows, p ~ 0.02). A distance measures *how much* changed, and
its threshold means the same at 10k rows and at 10M.

- numeric: Wasserstein distance / reference std >= 0.1, Evidently's default for references over 1000
  rows, so users can hold our report next to theirs. It reads in the data's own units: a shift of the
  mean by 0.1 std scores 0.1, a doubled std about 0.8. Our binned value is within a proven, reported
  error of the raw one (see `wasserstein_normed`), unlike KS at 1M rows it does not flag noise, and
  unlike PSI on 10 quantile bins it sees changes in the tails and inside a bin. (That error bound is
  ~0.01 for 1000 quantile cuts at 1M rows: a decision is in doubt only within it of the threshold.)
- categorical: Jensen-Shannon distance, base 2, >= 0.1: NannyML's default (same base, same
  threshold). Evidently's 0.1 is in natural log, i.e. 0.120 in base 2 (0.1 base 2 is 0.083 natural):
  we flag slightly smaller shifts than Evidently does. JS is bounded in [0, 1], symmetric, and needs
  no epsilon for categories missing on one side, where PSI's value is set by its floor.
PSI's industry bands (< 0.1 stable, 0.1-0.25 moderate, > 0.25 major) remain available as `psi`.
"""


# -- per feature ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDrift:
    """Every applicable statistic of one feature and the drift decision of its configured method.

    Statistics that do not apply (to the kind, or to the status) are None. `value` is the method's own
    number (a distance, or a p-value); `score` orders features, most drifted first: the distance, or
    1 - p for p-value methods, inf for a constant that changed value.
    """

    feature: str
    kind: str | None  # "numeric" | "categorical"; None when the column is missing on a side
    status: str  # one of STATUSES
    method: str | None
    threshold: float | None
    drifted: bool
    score: float
    value: float | None = None
    detail: str = ""  # why, for every status but "ok"
    reference_rows: int | None = None
    current_rows: int | None = None
    reference_missing_share: float | None = None
    current_missing_share: float | None = None
    missing_change: float | None = None
    psi: float | None = None  # numeric: on COARSE_BINS reference-quantile bins
    js: float | None = None  # Jensen-Shannon distance, base JS_BASE; numeric: on the coarse bins
    ks: float | None = None  # exact at the cuts, a lower bound
    ks_upper_bound: float | None = None
    ks_exact: bool | None = None
    ks_p_value: float | None = None
    wasserstein: float | None = None  # normed by the reference std
    wasserstein_error: float | None = None  # bound on |reported - exact|, same units
    wasserstein_low: float | None = None  # the exact value lies in [low, high]
    wasserstein_high: float | None = None
    chi2: float | None = None
    chi2_p_value: float | None = None
    chi2_df: int | None = None
    unseen_categories: int | None = None  # categories listed as unseen (a lower bound when the list is capped)
    unseen_share: float | None = None  # share of the current's present values in unseen categories
    resolution: str | None = None  # how the verdict was reached: one of RESOLUTIONS
    resolution_detail: str = ""  # the same in words, for the report

    @property
    def counted(self) -> bool:
        """Whether the feature counts in the dataset's drifted share (see `dataset_drift`)."""
        return self.status == "ok" or (self.status == "constant" and self.drifted)

    @classmethod
    def missing_column(
        cls, feature: str, side: str, *, method: str | None = None, threshold: float | None = None
    ) -> FeatureDrift:
        """The outcome for a column one side lacks (no histogram can exist for it)."""
        if side not in ("reference", "current"):
            raise ValueError(f"side must be 'reference' or 'current', not {side!r}")
        return cls(
            feature,
            None,
            "missing_column",
            method,
            threshold,
            drifted=False,
            score=0.0,
            detail=f"the {side} data has no column {feature!r}",
        )


def check_method(kind: str, method: str, threshold: float) -> None:
    allowed = NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS
    if method not in allowed:
        raise ValueError(f"method {method!r} does not apply to {kind} features (one of {', '.join(allowed)})")
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, not {threshold!r}")
    if method in P_VALUE_METHODS and not 0 < threshold < 1:
        raise ValueError(f"{method} compares a p-value: its threshold must be in (0, 1), not {threshold!r}")


def _present(hist: Histogram) -> tuple[int, int]:
    ref, cur = sum(hist.reference_counts), sum(hist.current_counts)
    if isinstance(hist, CategoricalHistogram):
        cur += hist.unseen_total
    return ref, cur


def _constant(hist: Histogram) -> tuple[object, object] | None:
    """(reference value, current value) when each side holds one distinct value, read from the histogram.

    Numeric: min == max on each side (min and max are exact aggregates, unlike a std that may come back
    as 1e-17); the value changed when the two sides' min differ. Categorical: one non-empty category on
    each side, a current made of a single unseen category included; changed when the names differ.
    """
    if isinstance(hist, NumericHistogram):
        ref, cur = hist.reference, hist.current
        if None in (ref.minimum, ref.maximum, cur.minimum, cur.maximum):
            return None
        if ref.minimum != ref.maximum or cur.minimum != cur.maximum:
            return None
        return ref.minimum, cur.minimum
    ref_names = [c for c, n in zip(hist.categories, hist.reference_counts, strict=True) if n]
    cur_names = [c for c, n in zip(hist.categories, hist.current_counts, strict=True) if n]
    if hist.unseen_total:
        if cur_names or len(hist.unseen) != 1 or sum(hist.unseen.values()) != hist.unseen_total:
            return None
        cur_names = list(hist.unseen)
    if len(ref_names) != 1 or len(cur_names) != 1:
        return None
    return ref_names[0], cur_names[0]


def _categorical_counts(hist: CategoricalHistogram) -> tuple[np.ndarray, np.ndarray]:
    """The kept categories plus one column pooling every category the reference never had."""
    ref = np.asarray(hist.reference_counts, dtype=np.int64)
    cur = np.asarray(hist.current_counts, dtype=np.int64)
    if hist.unseen_total:
        ref, cur = np.append(ref, 0), np.append(cur, hist.unseen_total)
    return ref, cur


def feature_drift(
    hist: Histogram, *, method: str, threshold: float, bounds: NumericBounds | None = None
) -> FeatureDrift:
    """Every applicable statistic of one feature, and whether `method` at `threshold` calls it drifted.

    Numeric: PSI and JS on coarse reference-quantile bins, KS (bracket, exactness, p-value), normed
    Wasserstein (with its error bound), missing-share change. Categorical: PSI, JS and chi-square over
    the categories plus one column for categories unseen in the reference, unseen count and share,
    missing-share change. Drift: distance >= threshold for psi, js, wasserstein; p < threshold for ks,
    chi2. Never raises for data: no rows, all values missing, or a constant column give a status.
    A constant column (one value on both sides) is drifted exactly when the value changed, whatever the
    method says (a PSI on bins could miss a move within one bin).
    """
    kind = "numeric" if isinstance(hist, NumericHistogram) else "categorical"
    check_method(kind, method, threshold)
    ref_rows, cur_rows = hist.reference.rows, hist.current.rows
    base: dict[str, Any] = {
        "feature": hist.feature,
        "kind": kind,
        "method": method,
        "threshold": threshold,
        "reference_rows": ref_rows,
        "current_rows": cur_rows,
        "reference_missing_share": hist.reference.missing_share,
        "current_missing_share": hist.current.missing_share,
    }
    if ref_rows and cur_rows:
        base["missing_change"] = missing_share_change(hist)
    ref_present, cur_present = _present(hist)
    idle: dict[str, Any] = {"drifted": False, "score": 0.0}
    if ref_rows == 0:
        return FeatureDrift(**base, **idle, status="no_reference_data", detail="the reference has no rows")
    if cur_rows == 0:
        return FeatureDrift(**base, **idle, status="no_current_data", detail="the current window has no rows")
    if ref_present == 0 or cur_present == 0:
        empty = [
            f"all {rows} {side} values are missing"
            for side, rows, present in (("reference", ref_rows, ref_present), ("current", cur_rows, cur_present))
            if present == 0
        ]
        return FeatureDrift(**base, **idle, status="all_missing", detail="; ".join(empty))

    stats: dict[str, Any] = {}
    if isinstance(hist, NumericHistogram):
        coarse_ref, coarse_cur = coarse_bins(hist)
        bounds = bounds or first_pass_bounds(hist)
        ks = ks_from_histogram(hist, bounds)
        w = wasserstein_normed_bracket(hist, bounds)
        stats.update(
            psi=psi(coarse_ref, coarse_cur),
            js=js_distance(coarse_ref, coarse_cur),
            ks=ks.statistic,
            ks_upper_bound=ks.upper_bound,
            ks_exact=ks.exact,
            ks_p_value=ks.p_value,
            wasserstein=w.value,
            wasserstein_error=w.error,
            wasserstein_low=w.low,
            wasserstein_high=w.high,
        )
        stats.update(_numeric_resolution(method, threshold, w, ks, bounds, (ref_present, cur_present)))
        values = {"psi": stats["psi"], "js": stats["js"], "wasserstein": w.value, "ks": ks.p_value}
    else:
        ref_counts, cur_counts = _categorical_counts(hist)
        chi2, chi2_p = chi_square(ref_counts, cur_counts)
        stats.update(
            psi=psi(ref_counts, cur_counts),
            js=js_distance(ref_counts, cur_counts),
            chi2=chi2,
            chi2_p_value=chi2_p,
            chi2_df=chi_square_df(ref_counts, cur_counts),
            unseen_categories=len(hist.unseen),
            unseen_share=hist.unseen_total / cur_present,
            resolution="exact",
            resolution_detail="exact: counted per category on both sides",
        )
        values = {"psi": stats["psi"], "js": stats["js"], "chi2": chi2_p}
    value = float(values[method])
    if method in P_VALUE_METHODS:
        drifted, score = value < threshold, 1.0 - value
    else:
        drifted, score = value >= threshold, value

    constant = _constant(hist)
    if constant is not None:
        before, after = constant
        changed = before != after
        return FeatureDrift(
            **base,
            **stats,
            status="constant",
            drifted=changed,
            score=math.inf if changed else 0.0,
            value=value,
            detail=f"constant, its value changed: {before!r} -> {after!r}" if changed else f"constant {before!r}",
        )
    return FeatureDrift(**base, **stats, status="ok", drifted=bool(drifted), score=score, value=value)


def _numeric_resolution(
    method: str, threshold: float, w: NormedWasserstein, ks: KsResult, bounds: NumericBounds, sizes: tuple[int, int]
) -> dict[str, str]:
    """How the numeric verdict was reached, from the bracket of the statistic it was taken on."""
    if method in ("psi", "js"):
        return {"resolution": "exact", "resolution_detail": f"exact: {method} on {COARSE_BINS} reference-quantile bins"}
    if method == "wasserstein":
        low, high, name = w.low, w.high, "Wasserstein/std"
        clear = not (low < threshold <= high)
    else:
        p_low, p_high = ks_p_value(ks.upper_bound, *sizes), ks.p_value
        low, high, name = ks.statistic, ks.upper_bound, "KS"
        clear = (p_low < threshold) == (p_high < threshold)
    kept = bounds.refined_bins - bounds.read_bins
    read = "; ".join(
        part
        for part in (
            f"the first pass kept the exact values of {_bins(kept)}" if kept else "",
            f"a second pass read {bounds.refined_rows:,} values in {_bins(bounds.read_bins)}"
            if bounds.read_bins
            else "",
        )
        if part
    )
    if low == high:
        how = f"exact: {read}" if read else "exact: both sides known per value"
        return {"resolution": "refined" if bounds.read_bins else "exact", "resolution_detail": how}
    bracket = f"{name} in [{low:.4g}, {high:.4g}]"
    if not clear:
        reason = bounds.note or "undecided"
        return {"resolution": "estimate", "resolution_detail": f"{reason}: {bracket} straddles {threshold:g}"}
    how = "; ".join(part for part in (bounds.note, read) if part) or "from the bins"
    return {
        "resolution": "refined" if bounds.read_bins else "bracket",
        "resolution_detail": f"{bracket}, clear of {threshold:g}; {how}",
    }


def _bins(count: int) -> str:
    return f"{count} bin" if count == 1 else f"{count} bins"


def dataset_drift(features: Sequence[FeatureDrift], share_threshold: float = 0.3) -> tuple[bool, float]:
    """(drifted, share): the share of drifted features among those that could be judged, vs the threshold.

    The denominator counts features with status "ok" and constant features whose value changed (a
    clear drift); unchanged constants, empty or all-missing columns and columns missing on one side
    tell nothing about the distribution and are left out, so they can neither dilute nor inflate the
    share. Drifted when share >= share_threshold; no countable feature -> (False, 0.0).
    """
    counted = [f for f in features if f.counted]
    if not counted:
        return False, 0.0
    share = sum(f.drifted for f in counted) / len(counted)
    return share >= share_threshold, share
