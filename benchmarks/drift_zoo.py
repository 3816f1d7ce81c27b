"""A zoo of feature shapes whose drift verdicts are known by construction, written to Parquet.

The synthetic set (drift_data.py) is 20 well-behaved normals; real features are not. Each family
here (heavy tails, counts, zero inflation, rounding, huge offsets, 0/1 flags, a near-constant,
NaN and infinities, strings) comes as a pair: `<family>_same`, drawn alike on both sides, and
`<family>_drift`, shifted on the current side. `TRUTH` is what an exact computation says:

- numeric: `scipy.stats.wasserstein_distance(ref, cur) / ref.std()` (population std, numpy's
  default) on the finite values (NaN, +-inf and NULL are missing values), drifted at >= 0.1;
- categorical: the Jensen-Shannon distance (base 2) of the category counts, drifted at >= 0.1.

Every shift is sized so the exact value sits far from the threshold (unchanged < 0.07, drifted >
0.13), so a detector that disagrees is wrong, not unlucky; `verify_truth` recomputes it from the
written files and says so if a seed or a row count ever breaks that margin. Some columns are known
traps: `poisson_same` (current holds one value one above the reference's maximum), `cauchy_same`
(no mean, no variance: the reference std is set by a few extremes), `lognormal_drift` (a shift
in log space: most of the distance sits in the right tail).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from drift_data import write_in_chunks  # benchmarks/ is on sys.path: they run as scripts

THRESHOLD = 0.1
MARGIN = 0.3  # exact values stay below THRESHOLD * (1 - MARGIN) or above THRESHOLD * (1 + MARGIN)

# What each column is, and (for `_drift`) what the current side changes. Reading order = file order.
FAMILIES: dict[str, str] = {
    "normal_same": "N(50, 10)",
    "normal_drift": "N(50, 10) -> mean +2 (0.2 std)",
    "lognormal_same": "exp(N(0, 1))",
    "lognormal_drift": "exp(N(0, 1)) -> exp(N(0.25, 1)): x1.28, the distance mostly in the tail",
    "pareto_same": "Pareto, shape 2.5, scale 1",
    "pareto_drift": "Pareto, shape 2.5 -> scale 1.25",
    "student_t_same": "Student t, 2.5 degrees of freedom",
    "student_t_drift": "Student t, 2.5 degrees of freedom -> +0.8",
    "cauchy_same": "Cauchy(0, 1)",
    "cauchy_drift": "Cauchy(0, 1) -> location +1000 (a Cauchy sample's std grows like sqrt(n): hundreds here)",
    "bimodal_same": "0.5 N(-3, 1) + 0.5 N(3, 1)",
    "bimodal_drift": "0.5 / 0.5 -> 0.35 / 0.65 between the modes",
    "poisson_same": "Poisson(3) capped at 12 (int64); the current side holds one 13",
    "poisson_drift": "Poisson(3) -> Poisson(3.5) (int64)",
    "geometric_same": "geometric, p 0.2 (int64)",
    "geometric_drift": "geometric, p 0.2 -> 0.16 (int64)",
    "zero_inflated_same": "60% zeros, else 1 + Poisson(4), capped at 15 (int32); current: 0.01% at 16..25",
    "zero_inflated_below_same": "60% zeros, else 1 + Poisson(4) (int32); current: 0.01% at -1",
    "zero_inflated_drift": "zeros 60% -> 45% (int32)",
    "price_same": "exp(N(3, 0.5)) rounded to the cent",
    "price_drift": "prices x1.12, rounded to the cent",
    "age_same": "N(40, 12) clipped to 18..90, whole years as float",
    "age_drift": "ages +3 years",
    "epoch_same": "1.7e9 + N(0, 100) seconds",
    "epoch_drift": "1.7e9 + N(0, 100) -> +25 s",
    "flag_same": "0/1 (int8), 30% ones",
    "flag_drift": "0/1 (int8), 30% -> 40% ones",
    "near_constant_same": "5.0 but 0.01% of rows at 6.0",
    "near_constant_drift": "5.0 but 0.01% -> 0.3% of rows at 6.0",
    "nonfinite_same": "N(0, 1) with NaN, +-inf and NULL; the current side has 5x the NaN (missing, not drift)",
    "nonfinite_drift": "N(0, 1) with NaN, +-inf and NULL -> finite values +0.3",
    "category_same": "12 strings, weights 1..3",
    "category_drift": "12 strings, weights 1..3 -> reversed",
}
CATEGORICAL = [name for name in FAMILIES if name.startswith("category_")]
NUMERIC = [name for name in FAMILIES if name not in CATEGORICAL]
TRUTH: dict[str, bool] = {name: name.endswith("_drift") for name in FAMILIES}
CATEGORIES = [f"level{i:02d}" for i in range(12)]


def _category_weights(reverse: bool) -> np.ndarray:
    raw = np.linspace(1.0, 3.0, len(CATEGORIES))
    raw = raw[::-1] if reverse else raw
    return raw / raw.sum()


def _zero_inflated(rng: np.random.Generator, rows: int, zeros: float) -> np.ndarray:
    values = np.where(rng.random(rows) < zeros, 0, 1 + rng.poisson(4.0, rows))
    return np.minimum(values, 15).astype(np.int32)


def _with_missing(rng: np.random.Generator, values: np.ndarray, nan_share: float) -> pa.Array:
    """NaN, +inf, -inf and NULL scattered through `values`."""
    draw = rng.random(len(values))
    values = values.copy()
    values[draw < nan_share] = np.nan
    values[(draw >= nan_share) & (draw < nan_share + 0.002)] = np.inf
    values[(draw >= nan_share + 0.002) & (draw < nan_share + 0.004)] = -np.inf
    null = (draw >= nan_share + 0.004) & (draw < nan_share + 0.014)
    return pa.array(values, mask=null)


def _chunk(rng: np.random.Generator, rows: int, current: bool, first: bool) -> pa.Table:
    """One chunk; `first` marks the file's first chunk, where the planted extremes go."""
    c = current
    n = rows
    columns: dict[str, np.ndarray | pa.Array] = {}
    columns["normal_same"] = rng.normal(50.0, 10.0, n)
    columns["normal_drift"] = rng.normal(52.0 if c else 50.0, 10.0, n)
    columns["lognormal_same"] = rng.lognormal(0.0, 1.0, n)
    columns["lognormal_drift"] = rng.lognormal(0.25 if c else 0.0, 1.0, n)
    columns["pareto_same"] = 1.0 + rng.pareto(2.5, n)
    columns["pareto_drift"] = (1.25 if c else 1.0) * (1.0 + rng.pareto(2.5, n))
    columns["student_t_same"] = rng.standard_t(2.5, n)
    columns["student_t_drift"] = rng.standard_t(2.5, n) + (0.8 if c else 0.0)
    columns["cauchy_same"] = rng.standard_cauchy(n)
    columns["cauchy_drift"] = rng.standard_cauchy(n) + (1000.0 if c else 0.0)
    for name, upper in (("bimodal_same", 0.5), ("bimodal_drift", 0.65 if c else 0.5)):
        columns[name] = np.where(rng.random(n) < upper, 3.0, -3.0) + rng.normal(0.0, 1.0, n)

    poisson = np.minimum(rng.poisson(3.0, n), 12)
    if first:
        poisson[0] = 13 if c else 12  # the reference's maximum is 12; the current side goes one above
    columns["poisson_same"] = poisson.astype(np.int64)
    columns["poisson_drift"] = rng.poisson(3.5 if c else 3.0, n).astype(np.int64)
    columns["geometric_same"] = rng.geometric(0.2, n).astype(np.int64)
    columns["geometric_drift"] = rng.geometric(0.16 if c else 0.2, n).astype(np.int64)

    above = _zero_inflated(rng, n, 0.6)
    if first and not c:
        above[0] = 15  # the reference's maximum, whatever the draw
    if c:
        beyond = rng.random(n) < 1e-4
        above[beyond] = rng.integers(16, 26, int(beyond.sum()))
    columns["zero_inflated_same"] = above
    below = _zero_inflated(rng, n, 0.6)
    if c:
        below[rng.random(n) < 1e-4] = -1  # below the reference's minimum (0)
    columns["zero_inflated_below_same"] = below
    columns["zero_inflated_drift"] = _zero_inflated(rng, n, 0.45 if c else 0.6)

    columns["price_same"] = np.round(rng.lognormal(3.0, 0.5, n), 2)
    columns["price_drift"] = np.round((1.12 if c else 1.0) * rng.lognormal(3.0, 0.5, n), 2)
    columns["age_same"] = np.round(np.clip(rng.normal(40.0, 12.0, n), 18, 90))
    columns["age_drift"] = np.round(np.clip(rng.normal(43.0 if c else 40.0, 12.0, n), 18, 90))
    columns["epoch_same"] = 1.7e9 + rng.normal(0.0, 100.0, n)
    columns["epoch_drift"] = 1.7e9 + rng.normal(25.0 if c else 0.0, 100.0, n)
    columns["flag_same"] = (rng.random(n) < 0.3).astype(np.int8)
    columns["flag_drift"] = (rng.random(n) < (0.4 if c else 0.3)).astype(np.int8)
    columns["near_constant_same"] = np.where(rng.random(n) < 1e-4, 6.0, 5.0)
    columns["near_constant_drift"] = np.where(rng.random(n) < (3e-3 if c else 1e-4), 6.0, 5.0)
    columns["nonfinite_same"] = _with_missing(rng, rng.normal(0.0, 1.0, n), 0.05 if c else 0.01)
    columns["nonfinite_drift"] = _with_missing(rng, rng.normal(0.3 if c else 0.0, 1.0, n), 0.01)

    labels = np.asarray(CATEGORIES, dtype=object)
    columns["category_same"] = labels[rng.choice(len(CATEGORIES), n, p=_category_weights(False))]
    columns["category_drift"] = labels[rng.choice(len(CATEGORIES), n, p=_category_weights(c))]
    assert list(columns) == list(FAMILIES)
    return pa.table(columns)


def write(path: Path, rows: int, *, current: bool, seed: int) -> Path:
    """Write `rows` rows in chunks, so memory stays bounded whatever `rows` is."""
    rng = np.random.default_rng(seed)
    return write_in_chunks(path, rows, lambda start, n: _chunk(rng, n, current, first=start == 0))


# -- the exact statistics (the "scipy loop" contender uses the same ones) -------------------------
def finite(values: np.ndarray) -> np.ndarray:
    """The values a numeric statistic is computed on: NaN, +-inf (and NULL, read as NaN) are missing."""
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein-1 distance over the reference's (population) std, on finite values."""
    from scipy.stats import wasserstein_distance

    ref, cur = finite(reference), finite(current)
    std = ref.std()
    distance = wasserstein_distance(ref, cur)
    if std == 0:
        return 0.0 if distance == 0 else math.inf
    return float(distance / std)


def js_distance(reference: np.ndarray, current: np.ndarray, base: float = 2.0) -> float:
    """Jensen-Shannon distance between the two sides' category frequencies (NULL left out)."""
    from scipy.spatial.distance import jensenshannon

    ref_values, ref_counts = np.unique(reference[reference != None], return_counts=True)  # noqa: E711
    cur_values, cur_counts = np.unique(current[current != None], return_counts=True)  # noqa: E711
    categories = np.union1d(ref_values, cur_values)
    ref_freq = np.zeros(len(categories))
    cur_freq = np.zeros(len(categories))
    ref_freq[np.searchsorted(categories, ref_values)] = ref_counts
    cur_freq[np.searchsorted(categories, cur_values)] = cur_counts
    return float(jensenshannon(ref_freq / ref_freq.sum(), cur_freq / cur_freq.sum(), base=base))


def exact_scores(reference: Path, current: Path, numeric: list[str], categorical: list[str]) -> dict[str, float]:
    """Each column's exact score, one column in memory at a time."""
    scores = {}
    for name in [*numeric, *categorical]:
        ref = pq.read_table(reference, columns=[name])[name]
        cur = pq.read_table(current, columns=[name])[name]
        if name in categorical:
            scores[name] = js_distance(ref.to_numpy(zero_copy_only=False), cur.to_numpy(zero_copy_only=False))
        else:
            scores[name] = normed_wasserstein(
                ref.cast(pa.float64()).to_numpy(zero_copy_only=False),
                cur.cast(pa.float64()).to_numpy(zero_copy_only=False),
            )
    return scores


def verify_truth(ref_path: Path, cur_path: Path) -> dict[str, float]:
    """Recompute every column's exact score from the files; raise unless each agrees with `TRUTH`
    with the margin. Returns the scores."""
    scores = exact_scores(ref_path, cur_path, NUMERIC, CATEGORICAL)
    wrong = []
    for name, score in scores.items():
        if TRUTH[name] and not score > THRESHOLD * (1 + MARGIN):
            wrong.append(f"{name}: {score:.4f}, meant drifted (> {THRESHOLD * (1 + MARGIN):.2f})")
        elif not TRUTH[name] and not score < THRESHOLD * (1 - MARGIN):
            wrong.append(f"{name}: {score:.4f}, meant unchanged (< {THRESHOLD * (1 - MARGIN):.2f})")
    if wrong:
        raise AssertionError("the zoo's truth does not hold for these files:\n  " + "\n  ".join(wrong))
    return scores


if __name__ == "__main__":  # python benchmarks/drift_zoo.py [rows]: write a pair, print the exact scores
    import sys
    import tempfile

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    folder = Path(tempfile.mkdtemp())
    ref_path = write(folder / "reference.parquet", rows, current=False, seed=1)
    cur_path = write(folder / "current.parquet", rows, current=True, seed=2)
    for name, score in exact_scores(ref_path, cur_path, NUMERIC, CATEGORICAL).items():
        print(f"{name:<26} {score:8.4f}  {'drifted' if TRUTH[name] else 'unchanged':<9}  {FAMILIES[name]}")
    verify_truth(ref_path, cur_path)
    print("truth holds")
