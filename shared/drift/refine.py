"""From the first pass's bracket to numbers that are right: targeted second passes where bins leave doubt.

The first pass counts both sides on the reference's cuts; `bounds.pieces` turns that into a proven
bracket on Wasserstein and KS. A feature is refined when its bracket is too wide to print a number
within the promised tolerance (`W_ABS_TOLERANCE` or `W_REL_TOLERANCE` of the exact value, `KS_TOLERANCE`)
or when it straddles the threshold its verdict is taken at. Refining fetches, from both sides, the
values inside just the bins that cause the doubt, per distinct value with counts (a discrete column is
then counted per value on both sides, whatever the current adds beyond the reference's range), and
replaces their bracket with their exact contribution. The widest bins go first; a bracket still in
doubt after `ROUNDS - 1` rounds has every remaining uncertain bin read in the last one, which is
exact by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from shared.drift.bounds import Pieces, exact_in_bin, values_on_upper_edges
from shared.drift.histograms import BinStats, BinValues, NumericHistogram, SideSummary
from shared.errors import PermanentError

W_ABS_TOLERANCE = 0.005  # normed Wasserstein: half the promised 0.01, so the estimate inside it is within
W_REL_TOLERANCE = 0.025  # ... or half the promised 5% of the value
KS_TOLERANCE = 0.0025  # half the promised 0.005
ROUNDS = 3
MAX_RANGES = 64  # bins fetched per feature and pass are merged into at most this many value ranges

# (lo, hi]: a feature's values in these ranges, per distinct value with counts, from one side.
Ranges = Sequence[tuple[float, float]]
ValueReader = Callable[[Mapping[str, Ranges]], Mapping[str, BinValues]]


@dataclass(frozen=True)
class NumericBounds:
    """Wasserstein (raw units) and KS of one feature: the value reported and a proven bracket on each."""

    wasserstein: float
    wasserstein_low: float
    wasserstein_high: float
    ks: float  # exact where the bracket closed; else its lower bound (exact at every cut)
    ks_high: float
    refined_bins: int = 0  # bins made exact from values: kept by the first pass, or read by a second
    refined_rows: int = 0  # values of both sides a second pass read
    read_bins: int = 0  # of the refined bins, those a second pass read
    note: str = ""  # why a bracket stayed open, when it did


@dataclass
class _Feature:
    hist: NumericHistogram
    pieces: Pieces
    rows_read: int = 0
    bins_read: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        hist = self.hist
        self.known = {
            "reference": _known_bins(hist.cut_array, hist.reference_count_array, hist.reference, hist.reference_bins)
            | hist.reference_tails,
            "current": _known_bins(hist.cut_array, hist.current_count_array, hist.current, hist.current_bins)
            | hist.current_tails,
        }
        bins = len(hist.cuts) + 1
        both = np.zeros(bins, dtype=bool)
        both[list(set(self.known["reference"]) & set(self.known["current"]))] = True
        self.known_to_both = both  # per bin: both sides' values known without a read
        self.settled = np.zeros(bins, dtype=bool)  # per bin: its exact contribution replaced its bracket
        self.exact_w = 0.0  # the settled bins' exact Wasserstein contributions, summed
        self.exact_ks = 0.0  # and the largest |D| inside them

    @property
    def discrete(self) -> bool:
        """A reference known per value in every bin (cut at its distinct values): the current is then
        counted per value too, to the last bin, whatever it adds beyond the reference's range."""
        return len(self.known["reference"]) == len(self.hist.cuts) + 1


def _known_bins(
    cuts: np.ndarray, counts: np.ndarray, summary: SideSummary, stats: BinStats | None
) -> dict[int, BinValues]:
    """The bins whose values one side's first pass already tells exactly: empty, or a single value."""
    counts_ = np.asarray(counts, dtype=np.int64)
    known = {int(b): _EMPTY for b in np.flatnonzero(counts_ == 0)}
    if stats is not None:
        single = (counts_ > 0) & (stats.minimum == stats.maximum)
        known.update({int(b): BinValues(stats.minimum[b : b + 1], counts_[b : b + 1]) for b in np.flatnonzero(single)})
        return known
    # Without per-bin extremes: the whole side, when its values provably sit on the bins' upper edges.
    edges = values_on_upper_edges(np.asarray(cuts, dtype=np.float64), counts_, summary)
    if edges is not None:
        known.update({int(b): BinValues(edges[b : b + 1], counts_[b : b + 1]) for b in np.flatnonzero(counts_)})
    return known


_EMPTY = BinValues(np.empty(0), np.empty(0, dtype=np.int64))


def _side_values(f: _Feature, side: str, read: Mapping[str, BinValues], bins: Sequence[int]) -> dict[int, BinValues]:
    known = f.known[side]
    unknown = [b for b in bins if b not in known]
    found = _split(read.get(f.hist.feature, _EMPTY), f.hist.cut_array, unknown) if unknown else {}
    return {b: known[b] if b in known else found[b] for b in bins}


def _total(f: _Feature) -> NumericBounds:
    p = f.pieces
    open_bins = ~f.settled[p.bins]
    low = float(np.sum(p.bin_low[open_bins])) + f.exact_w
    high = float(np.sum(p.bin_high[open_bins])) + f.exact_w
    estimate = float(np.sum(p.bin_estimate[open_bins])) + f.exact_w
    low = max(low, _mean_gap(f.hist))  # W >= |mean_c - mean_r|, often the better proof for a shifted feature
    estimate = min(max(estimate, low), high)
    keep = ~f.settled[p.bin]
    ks_low = max(p.at_cuts, f.exact_ks, float(np.max(p.upper[keep & p.exact], initial=0.0)))
    ks_high = max(ks_low, float(np.max(p.upper[keep], initial=0.0)))
    refined = int(f.settled.sum())
    return NumericBounds(estimate, low, high, ks_low, ks_high, refined, f.rows_read, f.bins_read, f.note)


def _mean_gap(hist: NumericHistogram) -> float:
    """|mean_c - mean_r| less what the engine's float sums may have lost: a proven lower bound on W."""
    ref, cur = hist.reference, hist.current
    if None in (ref.mean, cur.mean, ref.minimum, ref.maximum, cur.minimum, cur.maximum):
        return 0.0
    origin = 0.0
    means = float(ref.mean), float(cur.mean)  # type: ignore[arg-type]
    if ref.centred_mean is not None and cur.centred_mean is not None and ref.origin == cur.origin:
        origin, means = ref.origin, (ref.centred_mean, cur.centred_mean)  # epoch seconds keep their digits
    ends = (ref.minimum, ref.maximum, cur.minimum, cur.maximum)
    scale = max(abs(float(v) - origin) for v in ends)  # type: ignore[arg-type]
    rounding = 4 * (ref.present + cur.present) * np.finfo(np.float64).eps * scale
    gap = abs(means[1] - means[0]) - rounding
    return gap if math.isfinite(gap) and gap > 0 else 0.0


@dataclass(frozen=True)
class Target:
    """What one feature's bracket must reach: its verdict's threshold and the tolerances in raw units."""

    scale: float  # the reference std: Wasserstein is reported divided by it
    wasserstein_threshold: float | None = None  # normed; None when the verdict is not taken on W
    ks_decides: Callable[[float], bool] | None = None  # statistic -> drifted, when the verdict is on KS


def _doubt(f: _Feature, target: Target) -> tuple[float, float] | None:
    """(Wasserstein slack allowed in raw units, KS slack allowed) when the feature needs another pass."""
    b = _total(f)
    scale = target.scale
    if scale > 0 and math.isfinite(scale):
        w_allowed = max(W_ABS_TOLERANCE * scale, W_REL_TOLERANCE * b.wasserstein_low)
        if target.wasserstein_threshold is not None:
            line = target.wasserstein_threshold * scale
            if b.wasserstein_low < line <= b.wasserstein_high:
                w_allowed = min(w_allowed, abs(b.wasserstein - line) / 2)
    else:  # a constant reference (its verdict is exact either way) or one whose std overflows
        w_allowed = math.inf
    ks_allowed = KS_TOLERANCE
    if f.discrete:
        w_allowed = ks_allowed = 0.0
    if target.ks_decides is not None and target.ks_decides(b.ks) != target.ks_decides(b.ks_high):
        ks_allowed = min(ks_allowed, (b.ks_high - b.ks) / 2)
    w_in_doubt = b.wasserstein_high - b.wasserstein_low > w_allowed
    ks_in_doubt = b.ks_high - b.ks > ks_allowed
    return (w_allowed, ks_allowed) if (w_in_doubt or ks_in_doubt) else None


def _bins_to_read(f: _Feature, w_allowed: float, ks_allowed: float, everything: bool) -> list[int]:
    """The widest bins first, until what is left fits the allowance (every uncertain bin when `everything`)."""
    p = f.pieces
    slack = np.where(f.settled[p.bins], 0.0, p.bin_high - p.bin_low)
    ks_open = ~p.exact & ~f.settled[p.bin]
    ks_top = np.zeros(len(p.bins))
    np.maximum.at(ks_top, np.searchsorted(p.bins, p.bin[ks_open]), p.upper[ks_open])
    ks_low = _total(f).ks
    uncertain = (slack > 0) | (ks_top > ks_low)
    if everything:
        return p.bins[uncertain].tolist()
    chosen = {int(b) for b in p.bins[ks_top > ks_low + ks_allowed]}
    remaining = float(slack.sum()) - sum(slack[ks_top > ks_low + ks_allowed].tolist())
    for i in np.argsort(-slack, kind="stable"):
        if remaining <= w_allowed or slack[i] <= 0:
            break
        if int(p.bins[i]) not in chosen:
            chosen.add(int(p.bins[i]))
            remaining -= float(slack[i])
    return sorted(chosen)


def _ranges(cuts: Sequence[float], bins: Sequence[int]) -> list[tuple[float, float]]:
    """Bins as (lo, hi] value ranges, neighbours merged, the closest ranges joined past MAX_RANGES."""
    edges = [-math.inf, *cuts, math.inf]
    ranges: list[list[float]] = []
    for b in sorted(bins):
        lo, hi = edges[b], edges[b + 1]
        if ranges and ranges[-1][1] == lo:
            ranges[-1][1] = hi
        else:
            ranges.append([lo, hi])
    while len(ranges) > MAX_RANGES:  # join the pair with the fewest cuts between them
        gaps = [edges.index(ranges[j + 1][0]) - edges.index(ranges[j][1]) for j in range(len(ranges) - 1)]
        j = int(np.argmin(gaps))
        ranges[j][1] = ranges[j + 1][1]
        del ranges[j + 1]
    return [(lo, hi) for lo, hi in ranges]


def _split(values: BinValues, cuts: np.ndarray, bins: Sequence[int]) -> dict[int, BinValues]:
    """A range's values handed to the bins they fall in (values outside the asked bins are dropped)."""
    index = np.searchsorted(np.asarray(cuts, dtype=np.float64), values.values, side="left")
    found = {}
    for b in bins:
        mine = index == b
        found[b] = BinValues(values.values[mine], values.counts[mine])
    return found


def refine(
    histograms: Sequence[NumericHistogram],
    targets: Mapping[str, Target],
    read_reference: ValueReader | None,
    read_current: ValueReader | None,
) -> dict[str, NumericBounds]:
    """Every numeric feature's bounds, after as many targeted passes as its doubt needs (at most ROUNDS)."""
    features = {h.feature: _Feature(h, h.first_pass) for h in histograms if all(h.present)}
    for f in features.values():  # bins both sides already know: exact at no cost
        uncertain = np.asarray(_bins_to_read(f, 0.0, 0.0, everything=True), dtype=np.int64)
        _settle(f, uncertain[f.known_to_both[uncertain]].tolist(), {}, {})
    readers = {"reference": read_reference, "current": read_current}
    for round_ in range(ROUNDS):
        wanted: dict[str, list[int]] = {}
        for name, f in features.items():
            doubt = _doubt(f, targets[name])
            if doubt is None:
                continue
            bins = _bins_to_read(f, *doubt, everything=round_ == ROUNDS - 1)
            if any(readers[side] is None and any(b not in known for b in bins) for side, known in f.known.items()):
                f.note = "bracketed: the engine cannot re-read these sources"
                continue
            if bins:
                wanted[name] = bins
        if not wanted:
            break
        read = {}
        for side, reader in readers.items():
            requests = {}
            for name, bins in wanted.items():
                unknown = [b for b in bins if b not in features[name].known[side]]
                if unknown:
                    requests[name] = _ranges(features[name].hist.cuts, unknown)
            try:
                read[side] = reader(requests) if requests else {}  # type: ignore[misc]
            except PermanentError as exc:  # e.g. a cached reference whose files are gone: the brackets stand
                for name in requests:
                    features[name].note = f"bracketed: the {side} could not be read again ({exc})"[:300]
                read[side] = None
        for name, bins in wanted.items():
            if read["reference"] is None or read["current"] is None:
                continue
            _settle(features[name], bins, read["reference"], read["current"])
        if any(values is None for values in read.values()):
            break
    return {name: _total(f) for name, f in features.items()}


def _settle(f: _Feature, bins: Sequence[int], ref_read: Mapping[str, BinValues], cur_read: Mapping[str, BinValues]):
    """Replace the bins' brackets by their exact contributions, from what is known and what was read."""
    if not bins:
        return
    ref_bins = _side_values(f, "reference", ref_read, bins)
    cur_bins = _side_values(f, "current", cur_read, bins)
    n, m = f.hist.present
    for b in bins:
        exact = exact_in_bin(f.pieces, b, ref_bins[b], cur_bins[b], n, m)
        if exact is None:
            f.note = "bracketed: the data changed between the passes"
            continue
        f.settled[b] = True
        f.exact_w += exact.wasserstein
        f.exact_ks = max(f.exact_ks, exact.ks)
        f.bins_read += any(b not in f.known[side] for side in f.known)
        f.rows_read += sum(
            int(v[b].counts.sum())
            for side, v in (("reference", ref_bins), ("current", cur_bins))
            if b not in f.known[side]
        )


def first_pass_bounds(hist: NumericHistogram) -> NumericBounds:
    """What the bins alone prove, with no second pass."""
    return _total(_Feature(hist, hist.first_pass))
