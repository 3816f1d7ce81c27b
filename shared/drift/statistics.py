"""Drift statistics computed from histograms: counts in, numbers out, never a row.

Everything here is a pure function of a `NumericHistogram` or `CategoricalHistogram`
(`shared.drift.histograms`), so its cost is O(bins) whatever the row count. Statistics that are
defined on raw values (Kolmogorov-Smirnov, Wasserstein) come with what the bins allow us to prove:
KS as a lower bound (exact at the cuts) and an upper bound, Wasserstein with a bound on its binning
error. The p-values come from `distributions` (plain Python): a drift run imports no scipy.
Which of them decides a feature's drift, against which threshold, is `verdicts`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from shared.drift.distributions import chi2_sf, kolmogorov_sf
from shared.drift.histograms import CategoricalHistogram, NumericHistogram
from shared.drift.refine import NumericBounds, first_pass_bounds

Histogram = NumericHistogram | CategoricalHistogram

PSI_EPSILON = 1e-4
COARSE_BINS = 10
JS_BASE = 2  # reports state it: the same data give a different number with natural log

# Bin counts as the histograms hold them (tuples) or as the bounds computed them (arrays).
Counts = Sequence[float] | np.ndarray


# -- distances on counts ------------------------------------------------------------------------


def _proportions(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum()
    if values.ndim != 1 or total <= 0:
        raise ValueError("counts must be a non-empty 1-D sequence with a positive total")
    return values / total


def psi(ref_counts: Counts, cur_counts: Counts, *, epsilon: float = PSI_EPSILON) -> float:
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


def js_distance(ref_counts: Counts, cur_counts: Counts, *, base: float = JS_BASE) -> float:
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


def chi_square(ref_counts: Counts, cur_counts: Counts) -> tuple[float, float]:
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


def chi_square_df(ref_counts: Counts, cur_counts: Counts) -> int:
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
    ref, cur = hist.reference_count_array, hist.current_count_array
    total = int(ref.sum())
    if total == 0 or bins <= 1 or len(ref) <= 1:
        return np.array([ref.sum()]), np.array([cur.sum()])
    cumulative = np.cumsum(ref)
    # Integer arithmetic: cumulative * bins >= j * total, so equal shares split exactly.
    ends = np.searchsorted(cumulative * bins, np.arange(1, bins, dtype=np.int64) * total, side="left")
    ends = np.unique(np.append(np.minimum(ends, len(ref) - 1), len(ref) - 1))
    starts = np.concatenate(([0], ends[:-1] + 1))
    return np.add.reduceat(ref, starts), np.add.reduceat(cur, starts)


# -- Kolmogorov-Smirnov and Wasserstein: a proven bracket from the bins, refined where needed ------


class KsResult(NamedTuple):
    statistic: float  # exact at the cuts (and wherever refined): a lower bound on the true sup
    upper_bound: float  # the true statistic lies in [statistic, upper_bound]
    exact: bool  # upper_bound == statistic: the true statistic is known
    p_value: float  # two-sided asymptotic p-value of `statistic`


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


def _present_counts(hist: NumericHistogram) -> tuple[int, int]:
    n, m = hist.present
    if n == 0 or m == 0:
        raise ValueError(f"{hist.feature}: KS and Wasserstein need present values on both sides")
    return n, m


def ks_from_histogram(hist: NumericHistogram, bounds: NumericBounds | None = None) -> KsResult:
    """Two-sample KS statistic on the present values with its proven bracket (`shared.drift.bounds`).

    Exact at the cuts; inside a bin, each CDF lies between its values at the bin's ends unless a side
    has no value there (or its values provably sit on the bin's upper edge: a discrete feature cut at
    its distinct values), where it is flat. `bounds` carries what a refinement pass made exact.
    p_value: `ks_p_value` of the reported statistic.
    """
    n, m = _present_counts(hist)
    b = bounds or first_pass_bounds(hist)
    return KsResult(b.ks, b.ks_high, b.ks_high <= b.ks, ks_p_value(b.ks, n, m))


def _reference_std(hist: NumericHistogram) -> float:
    """The reference's population std, from its summary (0 exactly for a constant reference)."""
    summary = hist.reference
    if summary.minimum is not None and summary.minimum == summary.maximum:
        return 0.0  # exact, where a warehouse's stddev of a constant may come back as 1e-17
    if summary.std is None:
        raise ValueError(f"{hist.feature}: the reference summary has no std")
    return float(summary.std)


@dataclass(frozen=True)
class NormedWasserstein:
    value: float  # W / reference std: the estimate, inside the bracket
    low: float
    high: float

    @property
    def error(self) -> float:
        """How far the value can be from the exact one."""
        return max(self.high - self.value, self.value - self.low)


def wasserstein_normed_bracket(hist: NumericHistogram, bounds: NumericBounds | None = None) -> NormedWasserstein:
    """1-D Wasserstein (earth mover's) distance divided by the reference std, with its proven bracket.

    Like Evidently's normed Wasserstein: the distance in units of the reference's spread, so 0.1 means
    "the mass moved on average a tenth of a std". The bracket comes from the bins (`shared.drift.bounds`):
    exact wherever both CDFs are known, and wherever `bounds` carries a refinement pass's exact values.
    Reference std 0 (a constant reference): inf if the current differs from that constant, else 0.
    """
    _present_counts(hist)
    b = bounds or first_pass_bounds(hist)
    std = _reference_std(hist)
    if std == 0:
        # Exact either way: the reference is one point, so the distance is 0 iff the current is too.
        value = math.inf if b.wasserstein_high > 0 else 0.0
        return NormedWasserstein(value, value, value)
    return NormedWasserstein(b.wasserstein / std, b.wasserstein_low / std, b.wasserstein_high / std)


def wasserstein_normed_with_error(hist: NumericHistogram) -> tuple[float, float]:
    """(`wasserstein_normed`, a bound on |that - the same on raw values|), from the bins alone."""
    w = wasserstein_normed_bracket(hist)
    return w.value, w.error


def wasserstein_normed(hist: NumericHistogram) -> float:
    """`wasserstein_normed_bracket`'s value, from the bins alone."""
    return wasserstein_normed_bracket(hist).value


def missing_share_change(hist: Histogram) -> float:
    """Current missing share minus reference missing share (NaN when a side has no rows)."""
    ref, cur = hist.reference.missing_share, hist.current.missing_share
    return math.nan if ref is None or cur is None else cur - ref
