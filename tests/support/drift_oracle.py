"""Samples from many families and the exact answers scipy gives on their raw values: the drift oracle.

Shared by the DuckDB (Parquet) and the BigQuery (bqemulator) oracle suites. NaN and +-inf are missing
values (as Evidently treats them): the oracle computes on the finite values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from scipy.special import kolmogorov
from scipy.stats import ks_2samp, wasserstein_distance

W_THRESHOLD = 0.1
KS_P_THRESHOLD = 0.05


def _normal(rng, n, shift, scale):
    return rng.normal(shift, scale, n)


def _lognormal(rng, n, shift, scale):
    return rng.lognormal(shift, scale, n)


def _pareto(rng, n, shift, scale):
    return (rng.pareto(1.2 + scale, n) + 1) * math.exp(shift)


def _student_t(rng, n, shift, scale):
    return rng.standard_t(2, n) * scale + shift


def _cauchy(rng, n, shift, scale):
    return rng.standard_cauchy(n) * scale + shift


def _bimodal(rng, n, shift, scale):
    second = rng.random(n) < min(0.5, 0.1 + abs(shift) / 4)
    return np.where(second, rng.normal(3 * scale, 1, n), rng.normal(0, 1, n))


def _poisson(rng, n, shift, scale):
    return rng.poisson(3 * scale + max(shift, -1) + 1, n).astype(np.float64)


def _geometric(rng, n, shift, scale):
    return rng.geometric(min(0.9, 0.2 / scale), n).astype(np.float64) + shift * 0


def _zero_inflated(rng, n, shift, scale):
    counts = rng.poisson(2 * scale + 1, n)
    values = np.where(rng.random(n) < 0.5, 0, counts).astype(np.float64)
    if n > 1:
        values[rng.integers(0, n)] = values.max() + 1 + round(abs(shift) * 5)  # beyond either side's range
    return values


def _rounded(rng, n, shift, scale):
    return np.round(rng.lognormal(3 + shift, 0.5 * scale, n), 2)  # prices to the cent


def _ages(rng, n, shift, scale):
    return np.clip(np.round(rng.normal(40 + 5 * shift, 12 * scale, n)), 0, 100)


def _epoch(rng, n, shift, scale):
    return 1.7e9 + rng.normal(shift * 100, 100 * scale, n)  # timestamps as epoch seconds


def _tiny_spread(rng, n, shift, scale):
    return 1e9 + rng.normal(shift * 1e-3, 1e-3 * scale, n)


def _constant(rng, n, shift, scale):
    return np.full(n, 7.0 + (shift > 1))


def _all_equal_but_one(rng, n, shift, scale):
    values = np.full(n, 3.0)
    values[rng.integers(0, n)] = 3.0 + scale * (1 + shift)
    return values


def _subnormal(rng, n, shift, scale):
    return rng.normal(shift, scale, n) * 5e-324 * 1e5


def _tiny(rng, n, shift, scale):
    """Ordinary doubles, not subnormals, whose squared deviations underflow (below about 1e-162)."""
    return rng.normal(shift, scale, n) * 1e-170


def _huge(rng, n, shift, scale):
    return rng.normal(shift, scale, n) * 1e300


def _with_non_finite(rng, n, shift, scale):
    values = rng.normal(shift, scale, n)
    picked = rng.random(n)
    values[picked < 0.05] = np.nan
    values[(picked >= 0.05) & (picked < 0.08)] = np.inf
    values[(picked >= 0.08) & (picked < 0.1)] = -np.inf
    return values


FAMILIES = {
    "normal": _normal,
    "lognormal": _lognormal,
    "pareto": _pareto,
    "student_t": _student_t,
    "cauchy": _cauchy,
    "bimodal": _bimodal,
    "poisson": _poisson,
    "geometric": _geometric,
    "zero_inflated": _zero_inflated,
    "rounded": _rounded,
    "ages": _ages,
    "epoch": _epoch,
    "tiny_spread": _tiny_spread,
    "constant": _constant,
    "all_equal_but_one": _all_equal_but_one,
    "subnormal": _subnormal,
    "tiny": _tiny,
    "huge": _huge,
    "non_finite": _with_non_finite,
}


@dataclass(frozen=True)
class Case:
    family: str
    reference: np.ndarray
    current: np.ndarray

    def finite(self) -> tuple[np.ndarray, np.ndarray]:
        return self.reference[np.isfinite(self.reference)], self.current[np.isfinite(self.current)]


@st.composite
def cases(draw, max_rows: int = 4000) -> Case:
    """A reference and a current sample of one family, the current maybe shifted, rescaled or smaller."""
    family = draw(st.sampled_from(sorted(FAMILIES)))
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.one_of(st.integers(1, 50), st.integers(51, max_rows)))
    m = draw(st.one_of(st.integers(1, 50), st.integers(51, max_rows)))
    shift = draw(st.sampled_from([0.0, 0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 2.0]))
    scale = draw(st.sampled_from([1.0, 1.0, 1.1, 1.5, 3.0]))
    rng = np.random.default_rng(seed)
    generate = FAMILIES[family]
    return Case(family, generate(rng, n, 0.0, 1.0), generate(rng, m, shift, scale))


@dataclass(frozen=True)
class Oracle:
    wasserstein: float | None  # normed by the reference's population std; None: not comparable
    ks: float
    ks_p: float  # the asymptotic p-value of the exact statistic, as the engine computes it
    constant_reference: bool
    changed: bool  # any current value differs from a constant reference


def oracle(case: Case) -> Oracle | None:
    """scipy on the raw finite values; None when a side has no finite value."""
    ref, cur = case.finite()
    if not len(ref) or not len(cur):
        return None
    # W/std is the same at any scale: both computed on the values times one power of two (exact), which
    # brings them near 1, so neither numpy's squares (1e300: inf, subnormals: 0) nor W's products round away.
    unit = _unit(ref, cur)
    with np.errstate(over="ignore", invalid="ignore"):
        std = float((ref * unit).std())
        distance = float(wasserstein_distance(ref * unit, cur * unit))
    ks = float(ks_2samp(ref, cur).statistic)
    n, m = len(ref), len(cur)
    constant = bool(ref.min() == ref.max())
    comparable = math.isfinite(std) and std > 0 and math.isfinite(distance)
    return Oracle(
        wasserstein=distance / std if comparable else None,
        ks=ks,
        ks_p=float(kolmogorov(math.sqrt(n * m / (n + m)) * ks)) if ks > 0 else 1.0,
        constant_reference=constant,
        changed=bool(np.any(cur != ref[0])) if constant else False,
    )


def _unit(ref: np.ndarray, cur: np.ndarray) -> float:
    """A power of two that brings the values' magnitude near 1, within the doubles' range both ways."""
    largest = float(max(np.abs(ref).max(), np.abs(cur).max()))
    if not math.isfinite(largest) or largest == 0:
        return 1.0
    return math.ldexp(1.0, max(-1000, min(1000, -math.frexp(largest)[1])))


def close_enough_wasserstein(reported: float, exact: float) -> bool:
    """The issue's promise: within 0.01 absolute or 5% relative of scipy."""
    return abs(reported - exact) <= max(0.01, 0.05 * abs(exact))
