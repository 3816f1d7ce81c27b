"""Drift statistics computed from histograms: counts in, numbers out, never a row.

Everything here is a pure function of a `NumericHistogram` or `CategoricalHistogram`
(`shared.drift.histograms`), so its cost is O(bins) whatever the row count. Statistics that are
defined on raw values (Kolmogorov-Smirnov, Wasserstein) come with what the bins allow us to prove:
KS as a lower bound (exact at the cuts) and an upper bound, Wasserstein with a bound on its binning
error. The p-values come from `distributions` (plain Python): a drift run imports no scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from shared.drift.distributions import chi2_sf, kolmogorov_sf
from shared.drift.histograms import CategoricalHistogram, NumericHistogram, SideSummary

Histogram = NumericHistogram | CategoricalHistogram

PSI_EPSILON = 1e-4
COARSE_BINS = 10
JS_BASE = 2  # reports state it: the same data give a different number with natural log

NUMERIC_METHODS = ("wasserstein", "psi", "js", "ks")
CATEGORICAL_METHODS = ("js", "psi", "chi2")
P_VALUE_METHODS = ("ks", "chi2")  # drift when p < threshold; the others when value >= threshold

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


# -- distances on counts ------------------------------------------------------------------------


def _proportions(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum()
    if values.ndim != 1 or total <= 0:
        raise ValueError("counts must be a non-empty 1-D sequence with a positive total")
    return values / total


def psi(ref_counts: Sequence[float], cur_counts: Sequence[float], *, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index: sum((q - p) * ln(q / p)), p the reference, q the current proportions.

    Proportions are floored at `epsilon` first: a bin empty on one side would make ln(q / p)
    infinite, and empty bins are ordinary (a category new in the current data, a tail bin the
    current sample never reached). The floor caps such a bin's contribution at about q * ln(q / epsilon),
    e.g. 0.69 for a bin holding 10% of one side and nothing of the other.
    """
    p, q = _proportions(ref_counts), _proportions(cur_counts)
    if p.shape != q.shape:
        raise ValueError("both sides need the same bins")
    p, q = np.maximum(p, epsilon), np.maximum(q, epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(ref_counts: Sequence[float], cur_counts: Sequence[float], *, base: float = JS_BASE) -> float:
    """Jensen-Shannon distance: the square root of the JS divergence, in log base `base`.

    Base 2 bounds it in [0, 1]. The base changes the number: the distance in natural log is the
    base-2 one times sqrt(ln 2) ~ 0.833 (0.147 base 2 is 0.122 natural), so a threshold of 0.1 means
    different things in tools that use different bases; our reports state the base. Same arithmetic as
    `scipy.spatial.distance.jensenshannon`.
    """
    p, q = _proportions(ref_counts), _proportions(cur_counts)
    if p.shape != q.shape:
        raise ValueError("both sides need the same bins")
    m = (p + q) / 2
    divergence = (_relative_entropy(p, m) + _relative_entropy(q, m)) / 2 / math.log(base)
    return math.sqrt(max(divergence, 0.0))  # rounding can leave -1e-17 for identical inputs


def _relative_entropy(p: np.ndarray, m: np.ndarray) -> float:
    """sum(p * ln(p / m)) with 0 * ln 0 = 0 (m > 0 wherever p > 0, since m = (p + q) / 2)."""
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / m[mask])))


def chi_square(ref_counts: Sequence[float], cur_counts: Sequence[float]) -> tuple[float, float]:
    """Pearson chi-square test of homogeneity on the 2 x k table (reference, current) x categories.

    Categories empty on both sides are dropped (they carry no information and would make an expected
    count zero); the remaining k columns give k - 1 degrees of freedom (`chi_square_df`). No Yates
    continuity correction, at any k: it is a small-sample fix for 2 x 2 tables, and one formula for
    every k keeps statistics comparable across features. The same numbers as
    `scipy.stats.chi2_contingency(table, correction=False)`, computed here with numpy and the chi2
    survival function of `distributions`, so a drift run never imports scipy. With fewer than 2
    categories left there is nothing to test: (0.0, 1.0).
    """
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    if ref.shape != cur.shape or ref.ndim != 1:
        raise ValueError("both sides need the same categories")
    if ref.sum() <= 0 or cur.sum() <= 0:
        raise ValueError("both sides need at least one value")
    keep = (ref + cur) > 0
    if keep.sum() < 2:
        return 0.0, 1.0
    table = np.vstack([ref[keep], cur[keep]])
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, chi2_sf(table.shape[1] - 1, statistic)


def chi_square_df(ref_counts: Sequence[float], cur_counts: Sequence[float]) -> int:
    """Degrees of freedom of `chi_square`: categories non-empty on some side, minus one."""
    keep = (np.asarray(ref_counts, dtype=np.float64) + np.asarray(cur_counts, dtype=np.float64)) > 0
    return max(int(keep.sum()) - 1, 0)


def coarse_bins(hist: NumericHistogram, bins: int = COARSE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Merge the fine bins into about `bins` bins of equal reference mass (as far as fine bins allow).

    PSI and JS on numeric features use these: on ~1000 fine bins they would measure sampling noise
    (each fine bin holds 0.1% of the reference). Group j ends at the first fine bin where the
    reference's cumulative share reaches j / bins; a fine bin holding more than 1 / bins (a frequent
    value of a discrete feature) yields fewer, larger groups. Fine bins past the last reference value
    join the last group, so current mass outside the reference's range is kept.
    """
    ref = np.asarray(hist.reference_counts, dtype=np.int64)
    cur = np.asarray(hist.current_counts, dtype=np.int64)
    total = int(ref.sum())
    if total == 0 or bins <= 1 or len(ref) <= 1:
        return np.array([ref.sum()]), np.array([cur.sum()])
    cumulative = np.cumsum(ref)
    # Integer arithmetic: cumulative * bins >= j * total, so equal shares split exactly.
    ends = np.searchsorted(cumulative * bins, np.arange(1, bins, dtype=np.int64) * total, side="left")
    ends = np.unique(np.append(np.minimum(ends, len(ref) - 1), len(ref) - 1))
    starts = np.concatenate(([0], ends[:-1] + 1))
    return np.add.reduceat(ref, starts), np.add.reduceat(cur, starts)


# -- Kolmogorov-Smirnov from bins -----------------------------------------------------------------


class KsResult(NamedTuple):
    statistic: float  # sup |F_r - F_c| over the cut points: exact there, a lower bound on the true sup
    upper_bound: float  # the true statistic lies in [statistic, upper_bound]
    exact: bool  # upper_bound == statistic: the true statistic is known
    p_value: float  # two-sided asymptotic p-value of `statistic`


# Relative tolerance when checking from the side's mean that its values sit on the bins' upper edges:
# a few ulps of rounding by the warehouse's AVG over up to ~1e9 rows; see `_values_on_upper_edges`.
_ON_EDGES_RTOL = 1e-11


def _values_on_upper_edges(cuts: np.ndarray, counts: np.ndarray, side: SideSummary) -> np.ndarray | None:
    """Each bin's single value, when the summary proves every value sits on its bin's upper edge.

    A value in bin i is at most h_i = min(c_{i+1}, max) (the side's max for the last bin), so
    sum(x) <= sum_i n_i * h_i, with equality exactly when every value equals its bin's h_i. The side's
    mean gives sum(x), so the check is arithmetic on the summary: it holds for a discrete feature cut
    at its distinct values (the profiler does so when there are few) and fails for anything with two
    values in a bin. The first occupied bin's h must also equal the side's min, exactly (min is exact).
    The sums are floats, so equality is accepted within _ON_EDGES_RTOL * n * max|x|: values that differ
    from a cut by a few ulps count as on it. (What that admits: a KS error of e needs a share e of
    the values lying below a cut by less than 1e-11 * max|x| / e.) Returns None when not proven.
    """
    n = int(counts.sum())
    if n == 0 or side.minimum is None or side.maximum is None or side.mean is None:
        return None
    low, high, mean = float(side.minimum), float(side.maximum), float(side.mean)
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(mean)) or low > high:
        return None
    edges = np.minimum(np.append(cuts, np.inf), high)
    occupied = np.flatnonzero(counts)
    lower = np.concatenate(([-np.inf], cuts))
    if np.any(edges[occupied] <= lower[occupied]) or edges[occupied[0]] != low:
        return None  # the summary contradicts the counts, or the smallest value is not on an edge
    deficit = math.fsum(float(counts[i]) * float(edges[i]) for i in occupied) - n * mean
    if abs(deficit) > _ON_EDGES_RTOL * n * max(abs(low), abs(high)):
        return None
    return edges


def _ks_between_atoms(ref_at: np.ndarray, ref: np.ndarray, cur_at: np.ndarray, cur: np.ndarray) -> float:
    """Exact sup |F_r - F_c| when each side's values are known: counts `ref` at points `ref_at`, etc."""
    xr, wr = ref_at[ref > 0], np.cumsum(ref[ref > 0]) / ref.sum()
    xc, wc = cur_at[cur > 0], np.cumsum(cur[cur > 0]) / cur.sum()
    points = np.union1d(xr, xc)

    def cdf(at: np.ndarray, cumulative: np.ndarray) -> np.ndarray:
        index = np.searchsorted(at, points, side="right") - 1
        return np.where(index >= 0, cumulative[np.maximum(index, 0)], 0.0)

    return float(np.max(np.abs(cdf(xr, wr) - cdf(xc, wc))))


def ks_p_value(statistic: float, n: int, m: int) -> float:
    """Two-sided asymptotic p-value of a two-sample KS statistic D with sample sizes n and m.

    The limiting Kolmogorov distribution at the effective size en = n*m/(n+m):
    `scipy.special.kolmogorov(sqrt(en) * D)`. scipy's `ks_2samp(method='asymp')` evaluates the finite-n
    one-sample distribution instead (`scipy.stats.kstwo.sf(D, round(en))`); the two differ by its
    first-order term, about 2D/3 in relative terms (0.7% at en = 10^4 and p ~ 0.27), while kstwo costs
    0.9 s per call at en = 5*10^5 and small p, where the limit costs microseconds. Drift runs have
    large n; we take the limit.
    """
    if n <= 0 or m <= 0:
        raise ValueError("both samples need values")
    if statistic <= 0:
        return 1.0
    return kolmogorov_sf(math.sqrt(n * m / (n + m)) * statistic)


def ks_from_histogram(hist: NumericHistogram) -> KsResult:
    """Two-sample KS statistic on the present values, from bins, with a proven bracket on the true one.

    At a cut c the empirical CDFs are known exactly (F(c) = share of values in the bins up to c), so
    max_c |F_r(c) - F_c(c)| is exact at the cuts and a lower bound on the true sup. Inside bin i, each
    CDF lies between its values at the bin's edges, so |F_r(x) - F_c(x)| <=
    max(F_r(c_{i+1}) - F_c(c_i), F_c(c_{i+1}) - F_r(c_i)) (with F = 0 at -inf and 1 at +inf); the
    largest of those is `upper_bound`. When a side provably has all its values on its bins' upper edges
    (`_values_on_upper_edges`: a discrete feature cut at its distinct values) its CDF is flat inside
    those bins, which tightens the bound; when both sides do, their CDFs are known everywhere and the
    statistic is computed exactly. A bin occupied by one side only never loosens the bound (the other
    CDF is flat there). `exact` is True when the bound equals the statistic.

    p_value: `ks_p_value` of the reported statistic (the lower bound: the p-value of the upper bound is
    smaller, and the true one lies between). With 1000 quantile cuts the bracket is about one fine
    bin's mass (~0.001) wide.
    """
    ref = np.asarray(hist.reference_counts, dtype=np.int64)
    cur = np.asarray(hist.current_counts, dtype=np.int64)
    n, m = int(ref.sum()), int(cur.sum())
    if n == 0 or m == 0:
        raise ValueError(f"{hist.feature}: KS needs present values on both sides")
    cuts = np.asarray(hist.cuts, dtype=np.float64)
    # CDFs at the edges -inf, c_1, ..., c_k, +inf.
    f_ref = np.concatenate(([0], np.cumsum(ref))) / n
    f_cur = np.concatenate(([0], np.cumsum(cur))) / m
    at_cuts = np.abs(f_ref[1:-1] - f_cur[1:-1])
    statistic = float(at_cuts.max()) if len(at_cuts) else 0.0

    ref_at = _values_on_upper_edges(cuts, ref, hist.reference)
    cur_at = _values_on_upper_edges(cuts, cur, hist.current)
    if ref_at is not None and cur_at is not None:
        statistic = upper = _ks_between_atoms(ref_at, ref, cur_at, cur)
    else:
        # Inside bin i (open interval between its edges): F in [f[i], top[i]].
        top_ref, top_cur = f_ref[1:].copy(), f_cur[1:].copy()
        for at, top, f in ((ref_at, top_ref, f_ref), (cur_at, top_cur, f_cur)):
            if at is not None:  # values on the cut c_{i+1} itself: flat inside the bin
                flat = np.flatnonzero(at[:-1] == cuts)
                top[flat] = f[flat]
        inside = np.maximum(top_ref - f_cur[:-1], top_cur - f_ref[:-1])
        upper = max(statistic, float(inside.max()))
    return KsResult(statistic, upper, upper <= statistic, ks_p_value(statistic, n, m))


# -- Wasserstein from bins ------------------------------------------------------------------------


def _bin_ranges(hist: NumericHistogram, counts: np.ndarray, side: SideSummary) -> tuple[np.ndarray, np.ndarray, bool]:
    """[low_i, high_i] holding each bin's values on this side, and whether the side's range is known.

    Bins are clipped to the side's [min, max]; outer bins are bounded by them. A side proven to sit on
    its bins' upper edges gets zero-width ranges (its values are known exactly).
    """
    cuts = np.asarray(hist.cuts, dtype=np.float64)
    on_edges = _values_on_upper_edges(cuts, counts, side)
    if on_edges is not None:
        return on_edges, on_edges, True
    known = side.minimum is not None and side.maximum is not None
    if known:
        low_end, high_end = float(side.minimum), float(side.maximum)
    elif len(cuts):  # no range: outer bins' mass placed on the outermost cuts, error unbounded
        low_end, high_end = float(cuts[0]), float(cuts[-1])
    else:
        low_end = high_end = math.nan
    lows = np.concatenate(([low_end], cuts))
    highs = np.append(cuts, high_end)
    if known:
        lows, highs = np.clip(lows, low_end, high_end), np.clip(highs, low_end, high_end)
    return np.minimum(lows, highs), highs, known


def _wasserstein_binned(hist: NumericHistogram) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
    """W1 between the two binned distributions (mass uniform in each bin's range) and its error bound.

    W1 = integral over u in [0, 1] of |Q_r(u) - Q_c(u)|, Q the quantile functions; with uniform mass
    per bin both are piecewise linear in u, so the integral is exact on the union of their knots.
    Also returns the reference's bin ranges and shares, for its binned std.
    """
    ref = np.asarray(hist.reference_counts, dtype=np.int64)
    cur = np.asarray(hist.current_counts, dtype=np.int64)
    if ref.sum() == 0 or cur.sum() == 0:
        raise ValueError(f"{hist.feature}: Wasserstein needs present values on both sides")
    sides, ranges = [], []
    error = 0.0
    for counts, summary in ((ref, hist.reference), (cur, hist.current)):
        lows, highs, known = _bin_ranges(hist, counts, summary)
        ranges.append((lows, highs))
        share = counts / counts.sum()
        error += float(np.sum(share * (highs - lows))) / 2 if known else math.inf
        keep = counts > 0
        ends = np.cumsum(counts[keep]) / counts.sum()
        sides.append((lows[keep], highs[keep], share[keep], ends))
    knots = np.union1d(np.concatenate(([0.0], sides[0][3])), sides[1][3])
    middles = (knots[:-1] + knots[1:]) / 2
    at_start, at_end = [], []
    for lows, highs, share, ends in sides:
        i = np.minimum(np.searchsorted(ends, middles, side="right"), len(ends) - 1)
        begins = ends[i] - share[i]
        slope = (highs[i] - lows[i]) / share[i]
        at_start.append(lows[i] + (knots[:-1] - begins) * slope)
        at_end.append(lows[i] + (knots[1:] - begins) * slope)
    a, b = at_start[0] - at_start[1], at_end[0] - at_end[1]
    width = np.diff(knots)
    same_sign = a * b >= 0
    absolute_a, absolute_b = np.abs(a), np.abs(b)
    denominator = np.where(same_sign, 1.0, absolute_a + absolute_b)
    # Integral of |linear| over a piece: trapezoid when it keeps its sign, two triangles when it crosses 0.
    pieces = np.where(same_sign, (absolute_a + absolute_b) / 2, (a * a + b * b) / (2 * denominator))
    return float(np.sum(width * pieces)), error, ranges[0][0], ranges[0][1], ref / ref.sum()


def _reference_std(hist: NumericHistogram, lows: np.ndarray, highs: np.ndarray, share: np.ndarray) -> float:
    """The reference's std from its summary; from its bins (uniform in each) if the summary lacks it."""
    summary = hist.reference
    if summary.minimum is not None and summary.minimum == summary.maximum:
        return 0.0  # exact, where a warehouse's stddev of a constant may come back as 1e-17
    if summary.std is not None and math.isfinite(summary.std):
        return float(summary.std)
    mean = float(np.sum(share * (lows + highs) / 2))
    second = float(np.sum(share * (lows * lows + lows * highs + highs * highs) / 3))
    return math.sqrt(max(second - mean * mean, 0.0))


def wasserstein_normed_with_error(hist: NumericHistogram) -> tuple[float, float]:
    """(`wasserstein_normed`, a bound on |that - the same on raw values|)."""
    distance, error, lows, highs, share = _wasserstein_binned(hist)
    std = _reference_std(hist, lows, highs, share)
    if std == 0:
        # Exact either way: the reference is one point, so the binned distance is 0 iff the current is too.
        return (math.inf if distance > 0 else 0.0), 0.0
    return distance / std, error / std


def wasserstein_normed(hist: NumericHistogram) -> float:
    """1-D Wasserstein (earth mover's) distance between the two sides, divided by the reference std.

    Like Evidently's normed Wasserstein: the distance in units of the reference's spread, so 0.1 means
    "the mass moved on average a tenth of a std". Computed on the binned distributions: each bin's mass
    spread uniformly over the bin, clipped to the side's [min, max] (the outer bins bounded by the
    side's min and max); a side whose values provably sit on the cuts (a discrete feature cut at its
    distinct values, see `_values_on_upper_edges`) is placed there exactly.

    Error bound (`wasserstein_normed_with_error`): binning moves each value at most within its bin's
    range, and no more than half the range on average against a uniform spread (a distribution on
    [a, b] is within (b - a) / 2 of the uniform one in W1). By the triangle inequality the binned
    distance is within sum_i p_i * w_i / 2 + sum_i q_i * w_i / 2 of the raw one (p, q the sides' shares,
    w_i the bin's clipped width; zero for a side known exactly), divided by the std like the distance.
    A worst case: with 1000 quantile cuts of a normal feature at 1M rows it is ~0.01 (a tenth of the
    default threshold; about 40% of it from the two outer bins), where the actual error was 0.0004.
    The uniform spread is poorest where much current mass lies beyond the reference's outer cuts: a
    doubled std gives 1.08 for a raw 0.80 (bound 0.41). Such a feature is far past any threshold, and
    the reported bound says how far the value may be off.

    Reference std 0 (a constant reference): inf if the current differs from that constant, else 0.
    """
    return wasserstein_normed_with_error(hist)[0]


def missing_share_change(hist: Histogram) -> float:
    """Current missing share minus reference missing share (NaN when a side has no rows)."""
    ref, cur = hist.reference.missing_share, hist.current.missing_share
    return math.nan if ref is None or cur is None else cur - ref


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
    wasserstein_error: float | None = None  # bound on |binned - raw|, same units
    chi2: float | None = None
    chi2_p_value: float | None = None
    chi2_df: int | None = None
    unseen_categories: int | None = None  # categories listed as unseen (a lower bound when the list is capped)
    unseen_share: float | None = None  # share of the current's present values in unseen categories

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


def _check_method(kind: str, method: str, threshold: float) -> None:
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


def feature_drift(hist: Histogram, *, method: str, threshold: float) -> FeatureDrift:
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
    _check_method(kind, method, threshold)
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
    idle = {"drifted": False, "score": 0.0}
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
        ks = ks_from_histogram(hist)
        wasserstein, wasserstein_error = wasserstein_normed_with_error(hist)
        stats.update(
            psi=psi(coarse_ref, coarse_cur),
            js=js_distance(coarse_ref, coarse_cur),
            ks=ks.statistic,
            ks_upper_bound=ks.upper_bound,
            ks_exact=ks.exact,
            ks_p_value=ks.p_value,
            wasserstein=wasserstein,
            wasserstein_error=wasserstein_error,
        )
        values = {"psi": stats["psi"], "js": stats["js"], "wasserstein": wasserstein, "ks": ks.p_value}
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
