"""Deterministic synthetic feature data with known drift, written to Parquet in bounded memory.

20 numeric features (n00..n19) and 5 categorical ones (c0..c4, about 20 values each). The current
side shifts some of them by a known amount; `DRIFTED` is the truth a detector should find.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

NUMERIC = [f"n{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
CATEGORIES = [f"v{i:02d}" for i in range(20)]
# What the current side changes, and so what a detector must report as drifted (and nothing else).
SHIFTS = {
    "n00": "mean +0.5 std",
    "n01": "std x1.6",
    "n02": "mean +0.25 std",
    "n03": "mixture: 20% of values from a second mode at +3 std",
    "c0": "category weights reversed",
    "c1": "15% of rows in categories the reference never had",
}
DRIFTED = frozenset(SHIFTS)
CHUNK = 250_000


def _weights(reverse: bool) -> np.ndarray:
    raw = np.linspace(1.0, 3.0, len(CATEGORIES))
    raw = raw[::-1] if reverse else raw
    return raw / raw.sum()


def _chunk(rng: np.random.Generator, rows: int, current: bool) -> pa.Table:
    columns: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        scale = 1.0 + i / 10  # features on different scales, as real ones are
        values = rng.normal(10.0 * i, scale, rows)
        if current and name == "n00":
            values += 0.5 * scale
        elif current and name == "n01":
            values = 10.0 * i + (values - 10.0 * i) * 1.6
        elif current and name == "n02":
            values += 0.25 * scale
        elif current and name == "n03":
            mode = rng.random(rows) < 0.2
            values[mode] += 3.0 * scale
        columns[name] = values
    for name in CATEGORICAL:
        picked = rng.choice(len(CATEGORIES), size=rows, p=_weights(reverse=current and name == "c0"))
        labels = np.asarray(CATEGORIES, dtype=object)[picked]
        if current and name == "c1":
            unseen = rng.random(rows) < 0.15
            labels[unseen] = np.asarray([f"new{i}" for i in range(5)], dtype=object)[rng.integers(0, 5, unseen.sum())]
        columns[name] = labels
    return pa.table(columns)


def write(path: Path, rows: int, *, current: bool, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    return write_in_chunks(path, rows, lambda start, n: _chunk(rng, n, current))


def write_in_chunks(path: Path, rows: int, chunk: Callable[[int, int], pa.Table]) -> Path:
    """Write `rows` rows as `chunk(start, n)` tables of at most CHUNK rows: memory stays bounded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for start in range(0, rows, CHUNK):
            table = chunk(start, min(CHUNK, rows - start))
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer:
            writer.close()
    return path
