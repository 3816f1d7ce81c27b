"""One numeric column of one side, sorted in memory: its cuts, per-bin counts and statistics, its tails.

numpy sorts a million doubles in about 20 ms; DuckDB's `histogram(x, cuts)` aggregate took 200 ms for
the same column, and gave only counts. On a sorted column everything else is nearly free: the cuts are
exact quantiles (no sampling pass), each bin's count, sum, min and max are slices of the array, and
the values of the outermost bins (the long tails, where Wasserstein's bracket is widest) are kept
exactly, per distinct value, up to `TAIL_VALUES` a side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shared.drift.histograms import BinStats, BinValues, SideSummary, moments_origin, moments_scale, side_std

EXACT_INTEGERS = 2**53  # beyond it, neighbouring integers share a double: no cut at every integer there
TAIL_BINS = 8  # outermost bins at each end whose values are kept exactly...
TAIL_VALUES = 2_000  # ... as long as they hold at most this many values a side (an end): the cache stays small
# The outermost bin alone may hold this many times TAIL_VALUES: at 10M rows a bin holds 5,000 values, and
# without the outermost ones every column's bracket needed a second pass over the data (13 s of a 24 s run).
OUTERMOST_FACTOR = 5


@dataclass(frozen=True)
class ColumnProfile:
    counts: tuple[int, ...]
    bins: BinStats
    summary: SideSummary
    tails: dict[int, BinValues]  # bin -> its values, for the outermost bins (see TAIL_BINS)


def choose_cuts(ordered: np.ndarray, fine_bins: int, *, integer: bool) -> tuple[float, ...]:
    """Cuts for a reference column, sorted ascending (NaN and missing values already dropped).

    A column with at most `fine_bins` distinct values is cut after each but the largest (every bin then
    holds one value: KS and Wasserstein come out exact); integers over a short range at every integer,
    so that a current value the reference never had still lands on a cut. Else the exact quantiles
    at k / fine_bins.
    """
    n = len(ordered)
    if n == 0:
        return ()
    low, high = float(ordered[0]), float(ordered[-1])
    if integer and high - low < fine_bins and max(abs(low), abs(high)) <= EXACT_INTEGERS:
        return tuple(float(v) for v in range(int(low), int(high)))
    steps = ordered[1:] != ordered[:-1]  # one pass over the sorted column
    if np.count_nonzero(steps) < fine_bins:  # at most fine_bins distinct values: one bin each
        return tuple(ordered[np.flatnonzero(steps)].tolist())
    at = (np.arange(1, fine_bins, dtype=np.int64) * n) // fine_bins
    return tuple(np.unique(ordered[at]).tolist())


def profile_column(ordered: np.ndarray, rows: int, cuts: tuple[float, ...]) -> ColumnProfile:
    """Counts, per-bin statistics, summary and tails of a sorted column on `cuts` ((c_i, c_i+1] bins).

    `ordered` is overwritten (its deviations are computed in place): pass a sorted copy you own. At a
    million rows a temporary array per pass cost as much as the passes themselves.
    """
    cut_array = np.asarray(cuts, dtype=np.float64)
    bins = len(cuts) + 1
    ends = np.searchsorted(ordered, cut_array, side="right")
    starts = np.concatenate(([0], ends))
    stops = np.concatenate((ends, [len(ordered)]))
    counts = stops - starts
    occupied = counts > 0
    minimum = np.full(bins, np.nan)
    maximum = np.full(bins, np.nan)
    minimum[occupied] = ordered[starts[occupied]]
    maximum[occupied] = ordered[stops[occupied] - 1]
    tails = _tails(ordered, starts, counts)
    origin = moments_origin(cuts)
    sums, summary = _moments(ordered, starts[occupied], occupied, rows, origin)  # overwrites `ordered`
    return ColumnProfile(tuple(counts.tolist()), BinStats(origin, sums, minimum, maximum), summary, tails)


def _tails(ordered: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> dict[int, BinValues]:
    """The values of the outermost bins, per distinct value: up to TAIL_BINS bins and TAIL_VALUES values an
    end (the outermost bin up to OUTERMOST_FACTOR times that)."""
    bins = len(counts)
    tails: dict[int, BinValues] = {}
    for order in (range(min(TAIL_BINS, bins)), range(bins - 1, max(bins - 1 - TAIL_BINS, -1), -1)):
        kept = 0
        for b in order:
            if kept + counts[b] > (TAIL_VALUES if kept else OUTERMOST_FACTOR * TAIL_VALUES):
                break
            kept += int(counts[b])
            tails[b] = _distinct(ordered[starts[b] : starts[b] + counts[b]])
    return tails


def _distinct(ordered: np.ndarray) -> BinValues:
    """A sorted slice's distinct values with their counts (np.unique would sort it again)."""
    if not len(ordered):
        return BinValues(ordered.copy(), np.zeros(0, dtype=np.int64))
    first = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    found = np.diff(np.append(first, len(ordered)))
    return BinValues(ordered[first], found.astype(np.int64))


# E[(x - o)^2] - (E[x - o])^2 loses about eps * (1 + mean^2 / variance) of the variance to cancellation,
# mean taken from the origin o: at most 1e4 * eps here. Past that, a second pass over the deviations.
_ONE_PASS_RATIO = 1e4


def _variance(centred: np.ndarray, first: float) -> float:
    """The population variance of `centred` (x - origin), whose mean is `first`; may overwrite it.

    One pass when the mean is near the origin (always on the reference: its origin is its median);
    two, from the deviations themselves, when it is not (a current that moved far from the reference).
    einsum sums the squares in one pass, without BLAS (np.dot) or a temporary array.
    """
    n = len(centred)
    variance = float(np.einsum("i,i->", centred, centred)) / n - first * first
    if first * first <= _ONE_PASS_RATIO * variance:  # False for NaN: the second pass then says what it is
        return variance
    deviations = np.subtract(centred, first, out=centred)
    return max(float(np.einsum("i,i->", deviations, deviations)) / n, 0.0)


def _moments(
    ordered: np.ndarray, starts: np.ndarray, occupied: np.ndarray, rows: int, origin: float
) -> tuple[np.ndarray, SideSummary]:
    """Per-bin sums of (x - origin) and the side's summary, computed in place in `ordered`.

    Each pass over a million values costs about a millisecond: the passes are few, and in place.
    """
    n = len(ordered)
    sums = np.zeros(len(occupied))
    if n == 0:
        return sums, SideSummary(rows, rows, None, None, None, None)
    low, high = float(ordered[0]), float(ordered[-1])
    with np.errstate(over="ignore", invalid="ignore"):
        centred = np.subtract(ordered, origin, out=ordered)
        # reduceat over the occupied bins only: each then ends where the next occupied one starts.
        sums[occupied] = np.add.reduceat(centred, starts)
        # The bins' sums add up to the side's (exactly, by fsum), which saves a pass over the column.
        finite = bool(np.isfinite(sums).all())
        first = math.fsum(sums[occupied]) / n if finite else float(np.mean(centred))  # overflowed: inf or nan
        std = 0.0 if low == high else _std(centred, first, max(abs(low - origin), abs(high - origin)))
    return sums, SideSummary(rows, rows - n, low, high, origin + first, std, origin, first)


def _std(centred: np.ndarray, first: float, span: float) -> float:
    """The std of a side that is not constant, from its deviations (overwritten), scaled by a power of two
    first where squaring them is unsafe (`moments_scale`)."""
    scale = moments_scale(span)
    if scale != 1.0:
        np.multiply(centred, scale, out=centred)
        first = float(np.mean(centred))  # the mean's own digits, which subnormals would have lost unscaled
    return side_std(math.sqrt(_variance(centred, first)) / scale)
