"""What the warehouse hands back per feature: counts, never rows.

Numeric: the reference's quantiles give cut points c_1 < ... < c_k; bin 0 is (-inf, c_1], bin i is
(c_i, c_{i+1}], bin k is (c_k, +inf) (DuckDB's `histogram(x, boundaries)` and a BigQuery
`RANGE_BUCKET` agree on this once told the same cuts). Both sides are counted on the same cuts, so
everything below compares like with like. Missing values (NULL, NaN) are counted apart.

Categorical: counts per category for both sides; when there are more categories than the cap, the
rarest reference categories are folded into one `__other__` bucket and categories never seen in the
reference are kept apart (they are a finding of their own).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from shared.drift.bounds import Pieces

OTHER = "__other__"


@dataclass(frozen=True)
class SideSummary:
    rows: int  # all rows on this side, missing included
    missing: int
    minimum: float | None = None  # numeric only
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None  # population standard deviation
    # The mean of (x - origin), origin a point inside the data (see `moments_origin`): kept apart
    # because origin + it, rounded to the mean, loses what tells values on a cut from values near it.
    origin: float = 0.0
    centred_mean: float | None = None

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def missing_share(self) -> float | None:
        return self.missing / self.rows if self.rows else None


def moments_origin(cuts: Sequence[float]) -> float:
    """Where a side's moments are taken about: the middle cut (a reference quantile), 0 with no cut.

    About a point inside the data, epoch seconds (1.7e9 + noise) keep their spread: the engines'
    STDDEV_POP of the raw values lost 1e-4 of it to cancellation, and overflowed into an error
    (DuckDB: "STDDEV_POP is out of range") on values near 1e300.
    """
    return float(cuts[len(cuts) // 2]) if len(cuts) else 0.0


# Deviations are squared for the std: past 2**±SAFE_EXPONENT their squares would overflow (values near
# 1e300: an infinite std, so W/std 0 and no drift ever) or underflow (near 1e-170, subnormals: a std of 0
# for a column that is not constant, so W/std inf). There they are first scaled by a power of two, which
# changes only their exponent: the std comes out as exactly as for values near 1.
SAFE_EXPONENT = 400


def moments_scale(span: float) -> float:
    """The power of two that brings deviations as large as `span` near 1 where squaring them is unsafe,
    else 1.0 (no pass spent on ordinary data)."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    exponent = math.frexp(span)[1]
    if abs(exponent) <= SAFE_EXPONENT:
        return 1.0
    return math.ldexp(1.0, max(-1000, min(1000, -exponent)))  # a subnormal's 2**-1074 only to 2**-74: no 2**1074


def summary_from_moments(
    rows: int,
    present: int,
    low: Any,
    high: Any,
    origin: float,
    first: Any,
    second: Any,
    scale: float = 1.0,
) -> SideSummary:
    """SideSummary from count, min, max and the mean of d = (x - origin) * scale and of d**2 (`scale`:
    `moments_scale`'s, 1.0 for ordinary data)."""
    if not present or first is None or second is None:
        return SideSummary(rows, rows - present, low, high, None, None)
    first, second = float(first), float(second)
    # max() keeps a NaN (inf - inf: the squares overflowed), which side_std reads as infinite.
    spread = math.sqrt(max(second - first * first, 0.0)) / scale
    std = 0.0 if low is not None and low == high else side_std(spread)
    first /= scale
    return SideSummary(rows, rows - present, float(low), float(high), origin + first, std, origin, first)


def side_std(std: float) -> float:
    """The std of a side that is not constant, as computed (both engines): infinite where the squares
    overflowed (NaN or inf; numpy says the same), and positive even below the smallest double (values a
    few subnormals apart): taken as that smallest double, never 0, which reads as a constant reference."""
    if not math.isfinite(std):
        return math.inf
    return std if std > 0 else math.ulp(0.0)


@dataclass(frozen=True, eq=False)
class BinStats:
    """Per bin of one side: the sum of (x - origin), the smallest and the largest value (NaN when empty).

    Beside the counts they make Wasserstein's bracket tight (`shared.drift.bounds`): the integral of
    D = F_r - F_c over a bin is exact from the sums, and a side's CDF is flat outside [min, max].
    """

    origin: float
    sums: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BinStats)
            and self.origin == other.origin
            and all(
                np.array_equal(a, b, equal_nan=True)
                for a, b in ((self.sums, other.sums), (self.minimum, other.minimum), (self.maximum, other.maximum))
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "sums": pack(self.sums),
            "minimum": pack(self.minimum),
            "maximum": pack(self.maximum),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BinStats:
        return cls(float(data["origin"]), unpack(data["sums"]), unpack(data["minimum"]), unpack(data["maximum"]))


@dataclass(frozen=True, eq=False)
class BinValues:
    """One side's distinct values inside one bin, ascending, with their counts."""

    values: np.ndarray
    counts: np.ndarray

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BinValues)
            and np.array_equal(self.values, other.values)
            and np.array_equal(self.counts, other.counts)
        )

    __hash__ = None  # type: ignore[assignment]

    def to_json(self) -> list[str]:
        return [pack(self.values), pack(self.counts, "<i8")]

    @classmethod
    def from_json(cls, data: Sequence[str]) -> BinValues:
        return cls(unpack(data[0]), unpack(data[1], "<i8"))


def pack(values: Any, dtype: str = "<f8") -> str:
    """An array as base64 of its little-endian bytes: exact to the bit (NaN included), and a cached
    reference profile of 25 features at 2000 bins loads in milliseconds, where JSON lists took 0.14 s."""
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def unpack(text: str, dtype: str = "<f8") -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).astype(dtype[1:], copy=True)


@dataclass(frozen=True)
class NumericHistogram:
    feature: str
    cuts: tuple[float, ...]  # strictly increasing; len(cuts) + 1 bins
    reference_counts: tuple[int, ...]
    current_counts: tuple[int, ...]
    reference: SideSummary
    current: SideSummary
    # Per-bin sums and extremes where the engine gives them (both engines do; hand-made ones may not).
    reference_bins: BinStats | None = field(default=None, compare=False)
    current_bins: BinStats | None = field(default=None, compare=False)
    # The exact values of some bins (the outermost ones, where the bracket is widest), per side.
    reference_tails: dict[int, BinValues] = field(default_factory=dict, compare=False)
    current_tails: dict[int, BinValues] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        bins = len(self.cuts) + 1
        if len(self.reference_counts) != bins or len(self.current_counts) != bins:
            raise ValueError(f"{self.feature}: {len(self.cuts)} cuts need {bins} counts per side")
        for stats in (self.reference_bins, self.current_bins):
            if stats is not None and not (len(stats.sums) == len(stats.minimum) == len(stats.maximum) == bins):
                raise ValueError(f"{self.feature}: per-bin statistics need {bins} entries")
        if bool(np.any(self.cut_array[1:] <= self.cut_array[:-1])):
            raise ValueError(f"{self.feature}: cuts must be strictly increasing")

    # Arrays of the tuples, converted once: the bounds, the refinement and the statistics all read them,
    # and converting 2000 Python numbers each time cost more than the arithmetic. Read-only.
    @cached_property
    def cut_array(self) -> np.ndarray:
        return _frozen(np.array(self.cuts, dtype=np.float64))

    @cached_property
    def reference_count_array(self) -> np.ndarray:
        return _frozen(np.array(self.reference_counts, dtype=np.int64))

    @cached_property
    def current_count_array(self) -> np.ndarray:
        return _frozen(np.array(self.current_counts, dtype=np.int64))

    @cached_property
    def present(self) -> tuple[int, int]:
        """(reference, current): the values counted in the bins, missing ones left out."""
        return int(self.reference_count_array.sum()), int(self.current_count_array.sum())

    @cached_property
    def first_pass(self) -> Pieces:
        """What the bins alone prove (`shared.drift.bounds.pieces`; both sides need values), computed
        once. The Parquet profiler computes it in its sorting threads, where it overlaps the next read."""
        from shared.drift.bounds import pieces  # bounds imports this module

        return pieces(self)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class CategoricalHistogram:
    feature: str
    categories: tuple[str, ...]  # reference categories kept (most frequent first), maybe ending in OTHER
    reference_counts: tuple[int, ...]
    current_counts: tuple[int, ...]  # current counts of those same categories
    reference: SideSummary
    current: SideSummary
    # Categories the current data has and the reference never had: name -> count (capped list, largest first).
    unseen: dict[str, int] = field(default_factory=dict)
    unseen_total: int = 0  # all current rows in unseen categories, including those past the cap

    def __post_init__(self) -> None:
        n = len(self.categories)
        if len(self.reference_counts) != n or len(self.current_counts) != n:
            raise ValueError(f"{self.feature}: {n} categories need {n} counts per side")
