"""What the bins prove about Wasserstein and KS, and the exact values once a bin's raw values are known.

Both statistics are functionals of D(x) = F_r(x) - F_c(x), the difference of the two empirical CDFs:
W1 = integral |D| dx, KS = sup |D|. Counting both sides on the same cuts gives each F exactly at every
cut; between two cuts a CDF is only known to be non-decreasing between its values at the cut ends.
So the line is split into elementary intervals at the cuts and at each side's min and max, and on
each interval each side's CDF is either known (no value of that side inside: empty bin, below its
min, above its max, or values proven to sit on the bin's upper edge) or confined to [F(c_i), F(c_i+1)].
That yields, per interval, the least and the most |D| can be: a proven bracket [low, high] on W and
on KS, whatever the data. `estimate` spreads each bin's mass uniformly (a real distribution with
these counts, so it lies inside the bracket).

Where the bracket is too wide, or straddles a threshold, `refine.py` fetches the raw values of both
sides inside the bins that cause it (per distinct value, with counts); `exact_in_bin` then replaces
that bin's bracket by its exact contribution, with D computed from integer counts and gaps between
neighbouring values (no cancellation at large offsets such as epoch seconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shared.drift.histograms import BinStats, BinValues, NumericHistogram, SideSummary

# Relative tolerance when checking from the side's mean that its values sit on the bins' upper edges:
# a few ulps of rounding by the warehouse's AVG over up to ~1e9 rows; see `values_on_upper_edges`.
_ON_EDGES_RTOL = 1e-11


def values_on_upper_edges(cuts: np.ndarray, counts: np.ndarray, side: SideSummary) -> np.ndarray | None:
    """Each bin's single value, when the summary proves every value sits on its bin's upper edge.

    A value in bin i is at most h_i = min(c_{i+1}, max) (the side's max for the last bin), so
    sum(x) <= sum_i n_i * h_i, with equality exactly when every value equals its bin's h_i. The side's
    mean gives sum(x), so the check is arithmetic on the summary: it holds for a discrete feature cut
    at its distinct values and fails for anything with two values in a bin. The first occupied bin's
    h must also equal the side's min, exactly (min is exact). The sums are floats, so equality is
    accepted within _ON_EDGES_RTOL * n * max|x|. Returns None when not proven.
    """
    n = int(counts.sum())
    if n == 0 or side.minimum is None or side.maximum is None or side.mean is None:
        return None
    low, high = float(side.minimum), float(side.maximum)
    # About the origin the moments were taken at: at 1.7e9 + noise the raw mean's rounding is as large
    # as the distance of a value from its cut.
    origin = side.origin if side.centred_mean is not None else 0.0
    mean = float(side.centred_mean if side.centred_mean is not None else side.mean)
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(mean)) or low > high:
        return None
    edges = np.minimum(np.append(cuts, np.inf), high)
    occupied = np.flatnonzero(counts)
    lower = np.concatenate(([-np.inf], cuts))
    if np.any(edges[occupied] <= lower[occupied]) or edges[occupied[0]] != low:
        return None  # the summary contradicts the counts, or the smallest value is not on an edge
    deficit = math.fsum(float(counts[i]) * (float(edges[i]) - origin) for i in occupied) - n * mean
    if not abs(deficit) <= _ON_EDGES_RTOL * n * max(abs(low - origin), abs(high - origin)):
        return None
    return edges


@dataclass(frozen=True)
class Pieces:
    """The elementary intervals of one feature, what |D| can be on each, and the same summed per bin.

    Per bin, the integral of |D| lies in [bin_low, bin_high]; `bin_estimate` is inside. With each
    side's per-bin sums the integral of D itself is exact, which closes the bracket wherever D keeps
    its sign in a bin; per-bin minima and maxima tell where inside a bin a side's CDF is flat.
    """

    left: np.ndarray
    right: np.ndarray
    width: np.ndarray  # right - left
    bin: np.ndarray  # the bin (c_i, c_i+1] each interval lies in
    lower: np.ndarray  # least |D| on the interval
    upper: np.ndarray  # most |D| on the interval
    exact: np.ndarray  # bool: both CDFs known there (lower == upper)
    at_cuts: float  # max |D| at the cuts: exact
    ref_cdf: np.ndarray  # F_r at -inf, c_1 .. c_k, +inf
    cur_cdf: np.ndarray
    bins: np.ndarray  # the bins that hold an interval, ascending
    bin_low: np.ndarray  # per bin in `bins`: the least the integral of |D| over it can be
    bin_high: np.ndarray
    bin_estimate: np.ndarray


def _side_on_pieces(
    left: np.ndarray,
    right: np.ndarray,
    bins: np.ndarray,
    cuts: np.ndarray,
    counts: np.ndarray,
    cdf: np.ndarray,
    summary: SideSummary,
    stats: BinStats | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(least F, most F, F at the left end, F at the right end under the uniform spread, known) per piece."""
    low_f, high_f = cdf[bins], cdf[bins + 1]
    total = int(counts.sum())
    side_min, side_max = float(summary.minimum), float(summary.maximum)  # type: ignore[arg-type]
    if stats is not None:
        # Inside bin b a side's values lie in [min_b, max_b]: flat before and after.
        first, last = stats.minimum[bins], stats.maximum[bins]
        empty = counts[bins] == 0
        before = empty | (right <= first)
        after = ~empty & (left >= last)
        known = before | after
        flat = np.where(after, high_f, low_f)
        inside_low = np.where(first < last, low_f + 1.0 / total, low_f)  # min_b counted, max_b not yet
        inside_high = np.where(first < last, high_f - 1.0 / total, high_f)
        low_f, high_f = np.where(known, flat, inside_low), np.where(known, flat, inside_high)
        bin_low, bin_high = np.where(empty, left, first), np.where(empty, right, last)
    else:
        known = (counts[bins] == 0) | (right <= side_min) | (left >= side_max)
        edges = values_on_upper_edges(cuts, counts, summary)
        if edges is not None:  # values proven on the bins' upper edges: flat up to the edge, at the top after
            known[:] = True
            high_f = np.where(right <= edges[bins], low_f, high_f)
            low_f = high_f.copy()
        else:
            flat = np.where(right <= side_min, 0.0, np.where(left >= side_max, 1.0, low_f))
            low_f = np.where(known, flat, low_f)
            high_f = np.where(known, flat, high_f)
        bin_low = np.maximum(np.concatenate(([-np.inf], cuts))[bins], side_min)
        bin_high = np.minimum(np.append(cuts, np.inf)[bins], side_max)
    # Uniform spread of the bin's mass over where its values can be.
    span = bin_high - bin_low
    with np.errstate(invalid="ignore", divide="ignore"):
        at_left = low_f + (high_f - low_f) * np.clip((left - bin_low) / span, 0.0, 1.0)
        at_right = low_f + (high_f - low_f) * np.clip((right - bin_low) / span, 0.0, 1.0)
    at_left = np.where(known | ~np.isfinite(at_left), low_f, at_left)
    at_right = np.where(known | ~np.isfinite(at_right), high_f, at_right)
    return low_f, high_f, at_left, at_right, known


def _points(hist: NumericHistogram, low: float, high: float) -> np.ndarray:
    """Where the elementary intervals end: the cuts inside the range, each side's ends, per-bin extremes."""
    cuts = hist.cut_array
    ends = [hist.reference.minimum, hist.reference.maximum, hist.current.minimum, hist.current.maximum]
    parts = [np.asarray([low, high], dtype=np.float64), np.asarray(ends, dtype=np.float64)]
    parts.append(cuts[(cuts > low) & (cuts < high)])
    for stats, counts in (
        (hist.reference_bins, hist.reference_count_array),
        (hist.current_bins, hist.current_count_array),
    ):
        if stats is not None:
            occupied = counts > 0
            parts += [stats.minimum[occupied], stats.maximum[occupied]]
    return np.unique(np.concatenate(parts))


def pieces(hist: NumericHistogram) -> Pieces:
    """Split the feature's range into elementary intervals and bound |D| on each (see the module doc)."""
    cuts, ref, cur = hist.cut_array, hist.reference_count_array, hist.current_count_array
    ref_cdf = np.concatenate(([0], np.cumsum(ref))) / ref.sum()
    cur_cdf = np.concatenate(([0], np.cumsum(cur))) / cur.sum()
    ref_cdf[-1] = cur_cdf[-1] = 1.0
    ends = [hist.reference.minimum, hist.reference.maximum, hist.current.minimum, hist.current.maximum]
    known = [e for e in ends if e is not None]
    if len(known) < len(ends):
        raise ValueError(f"{hist.feature}: bounds need each side's min and max")
    low, high = float(min(known)), float(max(known))
    points = _points(hist, low, high)
    left, right = points[:-1], points[1:]
    bins = np.searchsorted(cuts, left, side="right")
    r_lo, r_hi, r_left, r_right, r_known = _side_on_pieces(
        left, right, bins, cuts, ref, ref_cdf, hist.reference, hist.reference_bins
    )
    c_lo, c_hi, c_left, c_right, c_known = _side_on_pieces(
        left, right, bins, cuts, cur, cur_cdf, hist.current, hist.current_bins
    )
    lower = np.maximum(0.0, np.maximum(r_lo - c_hi, c_lo - r_hi))
    upper = np.maximum(r_hi - c_lo, c_hi - r_lo)
    width = right - left
    a, b = r_left - c_left, r_right - c_right
    same_sign = a * b >= 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # Integral of |linear| over a piece: trapezoid when it keeps its sign, two triangles when it crosses 0.
        mean_abs = np.where(same_sign, (np.abs(a) + np.abs(b)) / 2, (a * a + b * b) / (2 * (np.abs(a) + np.abs(b))))
        mean_abs = np.clip(np.nan_to_num(mean_abs), lower, upper)
        low_parts = np.where(lower == 0, 0.0, width * lower)  # 0 * inf width: nothing proven, not NaN
        high_parts = np.nan_to_num(width * upper, nan=np.inf)
        positive = np.nan_to_num(width * np.maximum(0.0, r_hi - c_lo), nan=np.inf)  # most D+ can hold
        negative = np.nan_to_num(width * np.maximum(0.0, c_hi - r_lo), nan=np.inf)
    estimate = np.nan_to_num(width * mean_abs, nan=0.0)
    inside = np.abs(ref_cdf[1:-1] - cur_cdf[1:-1])
    # The pieces ascend, so do their bins: each bin's pieces are one run (no np.unique sort needed).
    first = np.flatnonzero(np.diff(bins, prepend=-1))  # bins are >= 0: the first piece starts a run
    runs = np.append(first, len(bins))  # run i: pieces runs[i] to runs[i + 1] - 1
    bin_ids, where = bins[first], np.repeat(np.arange(len(first)), np.diff(runs))
    total = len(bin_ids)
    bin_low = np.bincount(where, low_parts, total)
    bin_high = np.bincount(where, high_parts, total)
    bin_estimate = np.bincount(where, estimate, total)
    integral = _integral_of_d(hist, bin_ids, left[runs[:-1]], right[runs[1:] - 1], ref_cdf, cur_cdf)
    if integral is not None:
        # integral |D| >= |integral D|; and |D| = 2 D+ - D = 2 D- + D, with D+ and D- at most what the pieces allow.
        with np.errstate(invalid="ignore", over="ignore"):
            most_positive = np.bincount(where, positive, total)
            most_negative = np.bincount(where, negative, total)
            usable = np.isfinite(integral)
            bin_low = np.where(usable, np.maximum(bin_low, np.abs(integral)), bin_low)
            by_sign = np.minimum(2 * most_positive - integral, 2 * most_negative + integral)
            bin_high = np.where(usable & np.isfinite(by_sign), np.minimum(bin_high, by_sign), bin_high)
    bin_high = np.maximum(bin_high, bin_low)  # rounding in the integral may cross them by an ulp
    return Pieces(
        left=left,
        right=right,
        width=width,
        bin=bins,
        lower=lower,
        upper=upper,
        exact=r_known & c_known,
        at_cuts=float(inside.max()) if len(inside) else 0.0,
        ref_cdf=ref_cdf,
        cur_cdf=cur_cdf,
        bins=bin_ids,
        bin_low=bin_low,
        bin_high=bin_high,
        bin_estimate=np.clip(bin_estimate, bin_low, bin_high),
    )


def _integral_of_d(
    hist: NumericHistogram,
    bin_ids: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    ref_cdf: np.ndarray,
    cur_cdf: np.ndarray,
) -> np.ndarray | None:
    """The exact integral of D over each bin's part of the range [starts, stops], from both sides' per-bin sums.

    By parts, integral_L^R F dx = R F(R) - L F(L) - (sum of the bin's values) / n, and the same about any
    origin (the sums are taken about one, `BinStats.origin`, so that epoch seconds keep their digits).
    """
    ref, cur = hist.reference_bins, hist.current_bins
    if ref is None or cur is None or ref.origin != cur.origin:
        return None
    n, m = hist.present
    d_start = ref_cdf[bin_ids] - cur_cdf[bin_ids]
    d_stop = ref_cdf[bin_ids + 1] - cur_cdf[bin_ids + 1]
    with np.errstate(invalid="ignore", over="ignore"):
        by_parts = (stops - ref.origin) * d_stop - (starts - ref.origin) * d_start
        return by_parts - (ref.sums[bin_ids] / n - cur.sums[bin_ids] / m)


@dataclass(frozen=True)
class ExactBin:
    wasserstein: float  # integral of |D| over the bin's part of the range
    ks: float  # sup |D| inside the bin (its left cut included)


def exact_in_bin(
    p: Pieces, bin_index: int, ref: BinValues, cur: BinValues, ref_total: int, cur_total: int
) -> ExactBin | None:
    """The bin's exact contribution, from both sides' values in it; None when they contradict the counts
    of the first pass (the data changed in between: the bracket stands)."""
    i = bin_index
    expected_ref = round((p.ref_cdf[i + 1] - p.ref_cdf[i]) * ref_total)
    expected_cur = round((p.cur_cdf[i + 1] - p.cur_cdf[i]) * cur_total)
    if int(ref.counts.sum()) != expected_ref or int(cur.counts.sum()) != expected_cur:
        return None
    first, last = np.searchsorted(p.bin, i, "left"), np.searchsorted(p.bin, i, "right")  # pieces ascend
    if first == last:
        return None
    start, stop = float(p.left[first]), float(p.right[last - 1])
    merged = np.union1d(ref.values, cur.values)
    if len(merged) and (merged[0] < start or merged[-1] > stop):
        return None
    below_ref = round(p.ref_cdf[i] * ref_total)
    below_cur = round(p.cur_cdf[i] * cur_total)
    cum_ref = below_ref + _cumulative_at(ref, merged)
    cum_cur = below_cur + _cumulative_at(cur, merged)
    # D after each value (cumulative integer counts, one division each: no drift over many values).
    after = cum_ref / ref_total - cum_cur / cur_total
    before = below_ref / ref_total - below_cur / cur_total
    points = np.concatenate(([start], merged, [stop]))
    levels = np.concatenate(([before], after))
    gaps = np.diff(points)
    return ExactBin(
        wasserstein=float(np.sum(np.abs(levels) * gaps)),
        ks=float(np.max(np.abs(levels))) if len(levels) else 0.0,
    )


def _cumulative_at(side: BinValues, points: np.ndarray) -> np.ndarray:
    """Count of the side's values <= each point."""
    cumulative = np.concatenate(([0], np.cumsum(side.counts)))
    return cumulative[np.searchsorted(side.values, points, side="right")]
