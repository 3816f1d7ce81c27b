"""Which scale should normalise the Wasserstein distance: the reference's std, IQR/1.349 or MAD*1.4826?

The drift engine calls a numeric feature drifted when W(reference, current) / scale >= 0.1, with scale = the
reference's population std (Evidently's DataDriftPreset: W / max(std, 0.001)). Heavy tails make a sample std
unstable, so this study measures that default against two robust scales, on raw values, numpy and scipy only:

- std: `ref.std()` (ddof 0); iqr: `(q75 - q25) / 1.349`; mad: `median(|ref - median|) * 1.4826` (the three
  asked about); iqr|std: IQR/1.349 where it is positive, else the std (measured as well: the obvious patch for
  a zero IQR). A zero scale gives inf when the sides differ at all and 0 when they are identical.
- 16 families (`FAMILIES`): normal, lognormal, Pareto shape 3, Student t 3 df, a bimodal mixture, prices
  rounded to the cent (finite variance); Pareto shape 1.5, Student t 2 df, Cauchy (infinite variance); Poisson,
  geometric, zero-inflated counts (60% and 85% zeros), 0/1 flags (30% and 5% ones), a near-constant (5.0 with
  0.01% of rows at 6.0).
- Each at n = 1k, 10k and 100k rows per side, with 400, 200 and 100 independent reference/current pairs, drawn
  (a) from the same distribution, (b) with a real change: continuous families +0.25 x the population IQR and
  spread x1.5 around the median; counts lambda 3->3.5, p .2->.16, zeros 60->45% / 85->75%, spread x1.5
  (rounded); flags 30->40% and 5->10% ones; near-constant 0.01->0.3% sixes; bimodal weights 50/50->35/65;
  prices x1.12. Every change is one a monitor should report (std-normalised median at 100k rows 0.15-0.48 on the
  finite-variance and discrete families).
- Per cell (family x size x condition x scale): median score, 5th-95th percentile, coefficient of variation,
  share called drifted; errors (unchanged: false alarms; changed: misses) and flips (runs whose verdict differs
  from the cell's majority). W is mean |sorted(ref) - sorted(cur)|, exact for equal sizes and asserted equal to
  `scipy.stats.wasserstein_distance` on each cell's first pair (the scales likewise against `scipy.stats.iqr`
  and `median_abs_deviation`). Seeded per cell, so the output is the same with any `--jobs`.

Measured with `python benchmarks/drift_scale.py` (70-100 s on 2 cores):

    wrong verdicts: mean share of runs (cells with > 5% wrong)    std          iqr          mad          iqr|std
    finite variance      unchanged (18 cells)                  2% ( 3)     11% ( 5)     14% ( 5)     11% ( 5)
                         changed   (42)                        0% ( 0)      0% ( 0)      0% ( 0)      0% ( 0)
    infinite variance    unchanged  (9)                       10% ( 5)     73% ( 8)     76% ( 8)     73% ( 8)
                         changed   (18)                       52% (14)      0% ( 0)      0% ( 0)      0% ( 0)
    discrete, flags,     unchanged (21)                        2% ( 2)     38% (11)     67% (17)      3% ( 4)
    near-constant        changed   (33)                        0% ( 1)      1% ( 2)      0% ( 1)      1% ( 2)
    all                  unchanged (48)                        4% (10)     34% (24)     49% (30)     19% (17)
                         changed   (93)                       10% (15)      0% ( 2)      0% ( 1)      0% ( 2)
                         all      (141)                        8% (25)     12% (26)     17% (31)      7% (19)
    flips against the majority, mean                           3%           2%           2%           2%
    unstable cells (5% < drifted < 95%)                       22           15           13           14

    per family, mean wrong share (worst cell)    std          iqr          mad          iqr|std
    normal, bimodal, price, poisson            0-1% (<=5%)  0-1% (<=10%) 0-1% (<=12%) 0-1% (<=10%)
    lognormal                                    1% (7%)      6% (58%)     9% (78%)     6% (58%)
    pareto_3                                     1% (7%)      8% (72%)    11% (90%)     8% (72%)
    student_t_3                                  1% (8%)      6% (56%)     6% (55%)     6% (56%)
    pareto_1.5                                  50% (100%)   27% (100%)   30% (100%)   27% (100%)
    student_t_2                                  5% (20%)    13% (97%)    13% (97%)    13% (97%)
    cauchy                                      58% (98%)    33% (100%)   33% (100%)   33% (100%)
    geometric                                    1% (5%)      2% (14%)     3% (26%)     2% (14%)
    zero_infl_60                                 0% (3%)      0% (2%)     33% (100%)    0% (2%)
    zero_infl_85                                 0% (2%)     33% (100%)   33% (100%)    0% (2%)
    flag_30                                      0% (2%)      2% (10%)    50% (100%)    2% (10%)
    flag_5                                       1% (2%)     49% (100%)   49% (100%)    1% (2%)
    near_const                                   8% (23%)    31% (93%)    31% (93%)     8% (23%)

Where each fails:
- std misses real changes on infinite-variance features, more as n grows (the sample std grows with n, W does
  not): Pareto 1.5 +0.25 IQR misses 55% / 94% / 100% at 1k / 10k / 100k (median score 0.093 / 0.048 / 0.029),
  Cauchy 60% / 88% / 98%, t 2 df 3% / 10% / 10%; and at 1k it false-alarms 20-33% on those three unchanged.
  These are the run-to-run unstable verdicts the issue describes: 16 of std's 22 unstable cells are there.
- The robust scales are 0 on columns real tables are full of. MAD is 0 whenever one value holds more than half
  the rows (flags under 50% ones, counts with over 50% zeros), IQR whenever one value covers both quartiles
  (flag_5, zero_infl_85, near_const): in 100% of runs at every size, and then every pair whose counts differ
  at all scores inf: 96-100% false alarms on unchanged flags and zero-inflated counts (near_const: 18% / 70% /
  93% at 1k / 10k / 100k, as its rare value shows up in more samples). (std is 0 only on near_const: 90% of 1k
  and 36% of 10k references hold no 6.0; it false-alarms there 10% / 23%.)
- Robust scales false-alarm on skewed features with finite variance at small n: lognormal / Pareto 3 / t 3 at
  1k, 58% / 72% / 56% with IQR and 78% / 90% / 55% with MAD (std: 7-8%). IQR/1.349 is 0.4-0.65 of the std there,
  but W's sampling noise comes from the tail, so the 0.1 threshold (calibrated with std) is crossed by noise.
- On infinite-variance features the robust scales do not stabilise the verdicts, they turn std's misses into
  false alarms: unchanged Pareto 1.5 alarms 100% / 95% / 44% of runs with IQR at 1k / 10k / 100k, t 2 df
  97% / 16% / 1%, Cauchy 100% at every size. For Cauchy no scale can help: W itself is set by the extremes;
  IQR-normalised medians are 2.2 / 2.4 / 2.6 unchanged against 2.6 / 2.7 / 2.7 shifted +0.25 IQR, and the
  5-95% ranges overlap (0.8-16 / 0.8-23 / 0.9-34 against 1.0-29 / 1.1-38 / 1.2-20). The coefficient of
  variation of the unchanged score is not smaller with IQR either (Pareto 1.5 at 1k: 192% against std's 102%;
  Cauchy 874% against 724%); it is smaller for the shifted ones at 100k (Pareto 1.5: 23% against 43%; t 2 df:
  3% against 15%).
- The flip count (item 3) favours the robust scales (2% against 3%) only because a scale that is wrong in every
  run never flips: 100% false alarms on flags and Cauchy count as 0 flips.
- iqr|std removes the zero-scale failures (discrete: 2% wrong, std 1%) and keeps IQR's heavy-tail behaviour
  (no misses, 73% false alarms on unchanged infinite-variance data) and its small-n false alarms on skewed data.
  Its mean over all cells is the lowest (7% against std's 8%) because changed cells outnumber unchanged ones 93
  to 48; on unchanged data, which is what most features are on most runs, it alarms in 19% against std's 4%.

The oracle suite (benchmarks/drift_zoo.py, 200k rows per side, seeds 1/2, the files benchmarks/drift.py
writes): std gets all 31 numeric columns right, as it must (the truth is std-normalised, with a 30% margin);
against the columns' intent (`_same` drawn alike, `_drift` shifted) IQR is wrong on 2 (cauchy_same 1.85,
near_constant_same inf), MAD on 5 (also zero_inflated_same, zero_inflated_below_same and flag_same: inf),
iqr|std on 1 (cauchy_same).

Evidently: W / max(std, 0.001) is W / std in every run of 137 of the 141 cells; the other 4 are near_const at
1k and 10k, where the reference std is 0 in 90% / 36% of runs: Evidently's number is finite there (median 3.0
where std gives inf) but the same share of runs is called drifted. So with the std default this engine's numbers
are Evidently's wherever Evidently computes a Wasserstein distance at all -- per benchmarks/drift.py, Evidently
0.7.23 uses KS for a reference of <= 1000 rows and the Jensen-Shannon distance for integer columns with <= 10
distinct values (the flags) and numeric ones with <= 5 (the near-constant).

Recommendation: keep the reference's population std as the default scale. It is the only one of the three with
no zero-scale failure on flags and zero-inflated counts (where MAD and IQR alarm on 96-100% of unchanged pairs),
it has the fewest wrong verdicts on finite-variance and discrete features (1% in each, against 2-26% for the
others), and it keeps the numbers identical to Evidently's. Its known weakness, missed changes on
infinite-variance features (Pareto 1.5, Cauchy), is not cured by a robust scale: IQR/MAD trade those misses for
false alarms on the same features when nothing changed, and for Cauchy W carries no usable signal under any
scale. Do not offer MAD. An opt-in IQR/1.349 is defensible only with the std fallback (iqr|std) and only for a
feature known to be heavy-tailed with finite mean and large samples: at 100k rows on t 2 df it detected both
changes in every run (std missed 10% / 3%) with 1% false alarms; on Pareto 1.5 it still false-alarmed 44% and on
Cauchy 100%. Heavy tails are better handled before the distance (a log transform for positive features, or a
rank-based statistic); that is not measured here.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy import stats

THRESHOLD = 0.1
EVIDENTLY_FLOOR = 0.001  # Evidently: W / max(reference std, 0.001)
SEED = 20240611
SIZES = (1_000, 10_000, 100_000)
RUNS = {1_000: 400, 10_000: 200, 100_000: 100}  # independent reference/current pairs per cell
POPULATION = 2_000_000  # draws behind each family's population median and IQR (the shifts' sizes)
SCALES = ("std", "iqr", "mad")  # the three candidates
EXTRA = "iqr|std"  # measured too: IQR/1.349 where it is positive, else the std
GROUPS = {"finite": "finite variance", "infinite": "infinite variance", "discrete": "discrete / flags / constant"}
Draw = Callable[[np.random.Generator, int], np.ndarray]


# -- the families -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    name: str
    about: str
    draw: Callable[[Family, np.random.Generator, int], np.ndarray]


@dataclass(frozen=True)
class Family:
    name: str
    group: str
    about: str
    raw: Draw  # before `post` (rounding, clipping)
    changes: tuple[Change, ...]
    post: Callable[[np.ndarray], np.ndarray] = np.asarray

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.post(self.raw(rng, n))


@cache
def population(name: str) -> tuple[float, float]:
    """(median, IQR) of a family, from POPULATION draws with a fixed seed."""
    sample = FAMILIES[name].draw(np.random.default_rng(SEED), POPULATION)
    q25, q50, q75 = np.quantile(sample, [0.25, 0.5, 0.75])
    return float(q50), float(q75 - q25)


def _shift(family: Family, rng: np.random.Generator, n: int) -> np.ndarray:
    return family.post(family.raw(rng, n) + 0.25 * population(family.name)[1])


def _widen(family: Family, rng: np.random.Generator, n: int) -> np.ndarray:
    median = population(family.name)[0]
    return family.post(median + 1.5 * (family.raw(rng, n) - median))


SHIFT = Change("+0.25 IQR", "location + 0.25 x the population IQR", _shift)
WIDEN = Change("spread x1.5", "median + 1.5 x (value - median)", _widen)


def native(name: str, draw: Draw, about: str = "") -> Change:
    return Change(name, about or name, lambda _family, rng, n: draw(rng, n))


def _bimodal(rng: np.random.Generator, n: int, upper: float = 0.5) -> np.ndarray:
    return np.where(rng.random(n) < upper, 3.0, -3.0) + rng.normal(0.0, 1.0, n)


def _zero_inflated(rng: np.random.Generator, n: int, zeros: float, lam: float = 4.0) -> np.ndarray:
    return np.where(rng.random(n) < zeros, 0, 1 + rng.poisson(lam, n)).astype(np.float64)


def _cents(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


def _counts_from(low: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.maximum(np.round(x), low)


_FAMILIES = [
    Family("normal", "finite", "N(50, 10)", lambda r, n: r.normal(50.0, 10.0, n), (SHIFT, WIDEN)),
    Family("lognormal", "finite", "exp(N(0, 1))", lambda r, n: r.lognormal(0.0, 1.0, n), (SHIFT, WIDEN)),
    Family("pareto_3", "finite", "Pareto shape 3 (x >= 1)", lambda r, n: 1 + r.pareto(3, n), (SHIFT, WIDEN)),
    Family("student_t_3", "finite", "Student t, 3 df", lambda r, n: r.standard_t(3, n), (SHIFT, WIDEN)),
    Family(
        "bimodal",
        "finite",
        "0.5 N(-3, 1) + 0.5 N(3, 1)",
        _bimodal,
        (SHIFT, WIDEN, native("weights .5->.35", lambda r, n: _bimodal(r, n, 0.65), "mode weights 50/50 -> 35/65")),
    ),
    Family(
        "price",
        "finite",
        "exp(N(3, 0.5)) rounded to the cent",
        lambda r, n: r.lognormal(3.0, 0.5, n),
        (SHIFT, WIDEN, native("x1.12", lambda r, n: _cents(1.12 * r.lognormal(3.0, 0.5, n)), "prices x1.12")),
        _cents,
    ),
    Family(
        "pareto_1.5",
        "infinite",
        "Pareto shape 1.5 (x >= 1): no variance",
        lambda r, n: 1 + r.pareto(1.5, n),
        (SHIFT, WIDEN),
    ),
    Family("student_t_2", "infinite", "Student t, 2 df: no variance", lambda r, n: r.standard_t(2, n), (SHIFT, WIDEN)),
    Family("cauchy", "infinite", "Cauchy(0, 1): no mean", lambda r, n: r.standard_cauchy(n), (SHIFT, WIDEN)),
    Family(
        "poisson",
        "discrete",
        "Poisson(3)",
        lambda r, n: r.poisson(3.0, n).astype(np.float64),
        (native("lambda 3->3.5", lambda r, n: r.poisson(3.5, n).astype(np.float64)), WIDEN),
        _counts_from(0),
    ),
    Family(
        "geometric",
        "discrete",
        "geometric p 0.2 (1, 2, ...)",
        lambda r, n: r.geometric(0.2, n).astype(np.float64),
        (native("p .2->.16", lambda r, n: r.geometric(0.16, n).astype(np.float64)), WIDEN),
        _counts_from(1),
    ),
    Family(
        "zero_infl_60",
        "discrete",
        "60% zeros, else 1 + Poisson(4)",
        lambda r, n: _zero_inflated(r, n, 0.6),
        (native("zeros 60->45%", lambda r, n: _zero_inflated(r, n, 0.45)), WIDEN),
        _counts_from(0),
    ),
    Family(
        "zero_infl_85",
        "discrete",
        "85% zeros, else 1 + Poisson(4)",
        lambda r, n: _zero_inflated(r, n, 0.85),
        (native("zeros 85->75%", lambda r, n: _zero_inflated(r, n, 0.75)), WIDEN),
        _counts_from(0),
    ),
    Family(
        "flag_30",
        "discrete",
        "0/1, 30% ones",
        lambda r, n: (r.random(n) < 0.3).astype(np.float64),
        (native("ones 30->40%", lambda r, n: (r.random(n) < 0.4).astype(np.float64)),),
    ),
    Family(
        "flag_5",
        "discrete",
        "0/1, 5% ones",
        lambda r, n: (r.random(n) < 0.05).astype(np.float64),
        (native("ones 5->10%", lambda r, n: (r.random(n) < 0.1).astype(np.float64)),),
    ),
    Family(
        "near_const",
        "discrete",
        "5.0, 0.01% of rows 6.0",
        lambda r, n: np.where(r.random(n) < 1e-4, 6.0, 5.0),
        (native("6.0 .01->.3%", lambda r, n: np.where(r.random(n) < 3e-3, 6.0, 5.0)),),
    ),
]
FAMILIES: dict[str, Family] = {f.name: f for f in _FAMILIES}
UNCHANGED = "unchanged"


# -- one cell: a family, a size, a condition; R independent reference/current pairs ----------------------
def _quantile_sorted(s: np.ndarray, q: float) -> float:
    """numpy's default (linear) quantile of an already sorted array."""
    h = (len(s) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(s) - 1)
    return float(s[lo] + (h - lo) * (s[hi] - s[lo]))


def _normed(distance: float, scale: float) -> float:
    if scale > 0:
        return distance / scale
    return 0.0 if distance == 0 else math.inf


def run_cell(family_name: str, n: int, condition: str, runs: int) -> dict[str, np.ndarray]:
    """Scores (and whether the scale was 0) for each scale over `runs` pairs; seeded by the cell's name."""
    family = FAMILIES[family_name]
    change = next((c for c in family.changes if c.name == condition), None)
    rng = np.random.default_rng([SEED, zlib.crc32(f"{family_name}/{condition}/{n}".encode())])
    out = {key: np.empty(runs) for key in (*SCALES, EXTRA, "evidently", "w")}
    zero = {key: np.zeros(runs, dtype=bool) for key in (*SCALES, EXTRA)}
    for i in range(runs):
        ref = np.sort(np.asarray(family.draw(rng, n), dtype=np.float64))
        cur = family.draw(rng, n) if change is None else change.draw(family, rng, n)
        cur = np.sort(np.asarray(cur, dtype=np.float64))
        distance = float(np.mean(np.abs(ref - cur)))  # W1 of two equal-size samples: the sorted coupling
        median = _quantile_sorted(ref, 0.5)
        scales = {
            "std": float(ref.std()),
            "iqr": (_quantile_sorted(ref, 0.75) - _quantile_sorted(ref, 0.25)) / 1.349,
            "mad": float(np.median(np.abs(ref - median))) * 1.4826,
        }
        scales[EXTRA] = scales["iqr"] if scales["iqr"] > 0 else scales["std"]
        if i == 0:  # the fast forms are the textbook ones
            assert math.isclose(distance, stats.wasserstein_distance(ref, cur), rel_tol=1e-9, abs_tol=1e-12)
            assert math.isclose(scales["iqr"], stats.iqr(ref) / 1.349, rel_tol=1e-9, abs_tol=1e-12)
            assert math.isclose(scales["mad"], stats.median_abs_deviation(ref) * 1.4826, rel_tol=1e-9, abs_tol=1e-12)
        for key, scale in scales.items():
            out[key][i] = _normed(distance, scale)
            zero[key][i] = scale == 0
        out["evidently"][i] = distance / max(scales["std"], EVIDENTLY_FLOOR)
        out["w"][i] = distance
    return {**out, **{f"zero:{k}": v for k, v in zero.items()}}


@dataclass
class Cell:
    family: str
    n: int
    condition: str
    data: dict[str, np.ndarray]

    @property
    def changed(self) -> bool:
        return self.condition != UNCHANGED

    def rate(self, scale: str) -> float:
        """Share of runs called drifted."""
        return float(np.mean(self.data[scale] >= THRESHOLD))

    def error(self, scale: str) -> float:
        """Unchanged: false alarms; changed: misses."""
        rate = self.rate(scale)
        return 1 - rate if self.changed else rate

    def flips(self, scale: str) -> float:
        """Share of runs whose verdict differs from the majority verdict."""
        rate = self.rate(scale)
        return min(rate, 1 - rate)

    def zero(self, scale: str) -> float:
        return float(np.mean(self.data[f"zero:{scale}"]))


# -- formatting --------------------------------------------------------------------------------------
def num(x: float) -> str:
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf"
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 0.01:
        return f"{x:.3f}"
    return f"{x:.0e}"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def spread(scores: np.ndarray) -> tuple[float, float, float, float]:
    """median, 5th and 95th percentile, coefficient of variation."""
    p5, med, p95 = np.quantile(scores, [0.05, 0.5, 0.95], method="nearest")
    if not np.all(np.isfinite(scores)):
        cv = math.inf
    else:
        mean = float(np.mean(scores))
        cv = float(np.std(scores)) / mean if mean > 0 else math.nan
    return float(med), float(p5), float(p95), cv


def block(cell: Cell, scale: str) -> str:
    med, p5, p95, cv = spread(cell.data[scale])
    cvs = "inf" if math.isinf(cv) else "-" if math.isnan(cv) else pct(cv)
    return f"{num(med):>6} {num(p5):>6}-{num(p95):<6} {cvs:>4} {pct(cell.rate(scale)):>4}"


def print_cells(cells: list[Cell]) -> None:
    head = f"{'med':>6} {'p5-p95':^13} {'cv':>4} {'>=.1':>4}"
    print(f"{'family':<12} {'n':>6} {'condition':<16} | " + " | ".join(f"{s:^30}" for s in SCALES))
    print(f"{'':<12} {'':>6} {'':<16} | " + " | ".join(head for _ in SCALES))
    last = None
    for cell in cells:
        if cell.family != last:
            family = FAMILIES[cell.family]
            print(f"-- {cell.family}: {family.about} [{GROUPS[family.group]}]")
            last = cell.family
        label = f"{'':<12} {cell.n:>6} {cell.condition:<16}"
        print(label + " | " + " | ".join(block(cell, s) for s in SCALES))


def print_zero(cells: list[Cell]) -> None:
    print("\nScale = 0 (score inf when the sides differ at all, 0 when they are identical), share of runs:")
    rows = {}
    for cell in cells:
        if cell.condition == UNCHANGED and any(cell.zero(s) for s in (*SCALES, EXTRA)):
            rows.setdefault(cell.family, []).append(cell)
    if not rows:
        print("  never")
    for family, fam_cells in rows.items():
        parts = []
        for cell in fam_cells:
            zeros = ", ".join(f"{s} {pct(cell.zero(s))}" for s in (*SCALES, EXTRA) if cell.zero(s))
            parts.append(f"n={cell.n}: {zeros}")
        print(f"  {family:<12} " + "; ".join(parts))


def print_summary(cells: list[Cell]) -> None:
    scales = (*SCALES, EXTRA)
    print("\nSummary over cells (family x size x condition). err: mean share of runs with the wrong verdict")
    print("(unchanged: false alarm; changed: miss); flip: mean share against the cell's own majority, so a cell")
    print("that is wrong in every run flips 0%; bad: cells with err > 5%; unstable: cells with 5% < drifted < 95%.")
    print(f"{'group':<28} {'conditions':<10} {'cells':>5} | " + " | ".join(f"{s:^26}" for s in scales))
    head = f"{'err':>4} {'flip':>4} {'bad':>7} {'unst':>7}"
    print(f"{'':<28} {'':<10} {'':>5} | " + " | ".join(head for _ in scales))
    for group in (*GROUPS, "all"):
        for kind in ("unchanged", "changed", "all"):
            chosen = [
                c
                for c in cells
                if (group == "all" or FAMILIES[c.family].group == group)
                and (kind == "all" or c.changed == (kind == "changed"))
            ]
            parts = []
            for s in scales:
                err = np.mean([c.error(s) for c in chosen])
                flip = np.mean([c.flips(s) for c in chosen])
                bad = sum(c.error(s) > 0.05 for c in chosen)
                unstable = sum(c.flips(s) > 0.05 for c in chosen)
                parts.append(f"{pct(err):>4} {pct(flip):>4} {bad:>3}/{len(chosen):<3} {unstable:>3}/{len(chosen):<3}")
            name = GROUPS.get(group, group)
            print(f"{name:<28} {kind:<10} {len(chosen):>5} | " + " | ".join(parts))

    print("\nPer family: mean wrong-verdict share over its sizes and conditions (worst cell in brackets):")
    print(f"  {'family':<12} " + " ".join(f"{s:>14}" for s in scales))
    for family in FAMILIES:
        chosen = [c for c in cells if c.family == family]
        parts = []
        for s in scales:
            errors = [c.error(s) for c in chosen]
            parts.append(f"{pct(float(np.mean(errors))):>6} ({pct(max(errors)):>4})")
        print(f"  {family:<12} " + " ".join(f"{p:>14}" for p in parts))

    print("\nWhere each scale fails (cells with > 5% wrong verdicts: FA = false alarms, miss = misses; median score):")
    for s in scales:
        print(f"  {s}:")
        by_family: dict[str, list[str]] = {}
        for c in cells:
            if c.error(s) > 0.05:
                what = "miss" if c.changed else "FA"
                med = float(np.quantile(c.data[s], 0.5, method="nearest"))
                by_family.setdefault(c.family, []).append(
                    f"{c.condition}@{c.n // 1000}k {what} {pct(c.error(s))} ({num(med)})"
                )
        if not by_family:
            print("    none")
        for family, items in by_family.items():
            print(f"    {family:<12} " + "; ".join(items))


def print_evidently(cells: list[Cell]) -> None:
    print("\nEvidently (W / max(reference std, 0.001), drifted at >= 0.1) against plain W / std:")
    differ = []
    for c in cells:
        same_number = np.mean(np.isclose(c.data["evidently"], c.data["std"], rtol=1e-12, atol=0))
        evid_rate = float(np.mean(c.data["evidently"] >= THRESHOLD))
        if same_number < 1 or evid_rate != c.rate("std"):
            differ.append(
                f"  {c.family:<12} {c.n:>6} {c.condition:<16} same number in {pct(same_number):>4} of runs; "
                f"drifted: std {pct(c.rate('std'))}, evidently {pct(evid_rate)}; evidently median "
                f"{num(float(np.quantile(c.data['evidently'], 0.5, method='nearest')))}"
            )
    others = len(cells) - len(differ)
    print(f"  identical number in every run of {others} of {len(cells)} cells; the others:")
    print("\n".join(differ) if differ else "  none")
    print("  (What Evidently 0.7.23 would run on these columns, per benchmarks/drift.py: a reference of <= 1000 rows")
    print("  gets KS at p < 0.05, not Wasserstein, so the n=1000 rows are not its numbers; integer columns with <= 10")
    print("  distinct values (the flags) and numeric ones with <= 5 (near_const) get the Jensen-Shannon distance.)")


# -- the zoo (benchmarks/drift_zoo.py), the oracle suite --------------------------------------------------
def zoo_scores(rows: int) -> list[tuple[str, bool, dict[str, float]]] | None:
    """Each numeric zoo column's score by each scale, on the files drift.py writes (seeds 1 and 2)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import drift_zoo
    except ImportError as exc:  # pyarrow is in the drift/bench extras, not numpy/scipy
        print(f"\n(zoo skipped: {exc})")
        return None
    results = []
    with tempfile.TemporaryDirectory() as folder:
        ref_path = drift_zoo.write(Path(folder) / "reference.parquet", rows, current=False, seed=1)
        cur_path = drift_zoo.write(Path(folder) / "current.parquet", rows, current=True, seed=2)
        ref_table, cur_table = pq.read_table(ref_path), pq.read_table(cur_path)
        for name in drift_zoo.NUMERIC:
            ref = drift_zoo.finite(ref_table[name].cast(pa.float64()).to_numpy(zero_copy_only=False))
            cur = drift_zoo.finite(cur_table[name].cast(pa.float64()).to_numpy(zero_copy_only=False))
            distance = float(stats.wasserstein_distance(ref, cur))
            scales = {
                "std": float(ref.std()),
                "iqr": float(stats.iqr(ref)) / 1.349,
                "mad": float(stats.median_abs_deviation(ref)) * 1.4826,
            }
            scales[EXTRA] = scales["iqr"] if scales["iqr"] > 0 else scales["std"]
            results.append((name, drift_zoo.TRUTH[name], {s: _normed(distance, v) for s, v in scales.items()}))
    return results


def print_zoo(results: list[tuple[str, bool, dict[str, float]]], rows: int) -> None:
    scales = (*SCALES, EXTRA)
    print(f"\nThe zoo (benchmarks/drift_zoo.py, {rows} rows per side, seeds 1/2): each numeric column's score;")
    print("* = a verdict against the zoo's intent (`_same` unchanged, `_drift` shifted):")
    print(f"  {'column':<26} " + " ".join(f"{s:>9}" for s in scales))
    wrong = dict.fromkeys(scales, 0)
    for name, truth, scores in results:
        cells = []
        for s in scales:
            bad = (scores[s] >= THRESHOLD) != truth
            wrong[s] += bad
            cells.append(f"{num(scores[s]):>8}{'*' if bad else ' '}")
        print(f"  {name:<26} " + " ".join(cells))
    print(f"  {'wrong verdicts':<26} " + " ".join(f"{wrong[s]:>8} " for s in scales) + f" of {len(results)}")


# -- main ---------------------------------------------------------------------------------------------
def _run(args: tuple[str, int, str, int]) -> Cell:
    family, n, condition, runs = args
    return Cell(family, n, condition, run_cell(family, n, condition, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--runs", type=float, default=1.0, help="multiply the runs per cell (default 400/200/100)")
    parser.add_argument("--zoo-rows", type=int, default=200_000, help="0: leave the zoo out")
    args = parser.parse_args()

    started = time.perf_counter()
    tasks = [
        (family.name, n, condition, max(10, round(RUNS[n] * args.runs)))
        for family in _FAMILIES
        for n in SIZES
        for condition in (UNCHANGED, *(c.name for c in family.changes))
    ]
    biggest_first = sorted(tasks, key=lambda t: -t[1])  # so the pool's processes end together
    with ProcessPoolExecutor(args.jobs) as pool:
        done = {(c.family, c.n, c.condition): c for c in pool.map(_run, biggest_first)}
    cells = [done[task[:3]] for task in tasks]

    print(
        f"Normalised Wasserstein W(ref, cur) / scale, drifted at >= {THRESHOLD}; runs per cell: "
        + ", ".join(f"{RUNS[n] * args.runs:.0f} at n={n}" for n in SIZES)
    )
    print("std = population std (ddof 0); iqr = IQR / 1.349; mad = median absolute deviation x 1.4826;")
    print(f"{EXTRA} = iqr where positive, else std. Shifts: +0.25 IQR and spread x1.5 use the population IQR/median.\n")
    print_cells(cells)
    print_zero(cells)
    print_summary(cells)
    print_evidently(cells)
    if args.zoo_rows:
        results = zoo_scores(args.zoo_rows)
        if results:
            print_zoo(results, args.zoo_rows)
    print(f"\n({time.perf_counter() - started:.0f} s, {args.jobs} processes)")


if __name__ == "__main__":
    main()
