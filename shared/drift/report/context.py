"""What a report says about the run besides the statistics, and the names every part of it uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared.drift.histograms import CategoricalHistogram, NumericHistogram
from shared.drift.history import PastRun

if TYPE_CHECKING:
    pass

Histogram = NumericHistogram | CategoricalHistogram

NONE = "\N{EN DASH}"  # a statistic that does not apply
TOP_CATEGORIES = 20  # categories charted per feature, by reference count; the rest pooled in one row
P_FLOOR = 1e-12  # p-values are charted as -log10(p), this small and smaller at the top
METHOD_NAMES = {
    "wasserstein": "Wasserstein/std",
    "psi": "PSI",
    "js": "JS distance",
    "ks": "KS p-value",
    "chi2": "chi-square p-value",
}


@dataclass(frozen=True)
class ReportContext:
    """What the report says about the run, besides the statistics."""

    model: str
    env: str
    run_key: str
    generated_at: datetime
    reference: str  # the sources in words: "gs://b/ref/*.parquet", "table x, 2026-11-20T00:00 to ..."
    current: str
    drift_share: float | None = None  # the dataset's drifted-share threshold, when the caller knows it
    # The model's earlier runs, oldest first (`history.past_runs`); () when there are none, None when
    # they were not read (the report then says so and charts no history).
    history: tuple[PastRun, ...] | None = None
