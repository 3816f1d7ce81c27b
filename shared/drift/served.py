"""Drift of what a model answered, over the predictions the inference service captured.

When a drift request's current window is the captured predictions (`"captured": true`: Parquet under
`gs://ml-predictions-{env}/{model}/dt=*/`, or the `ml_monitoring.predictions` table filtered to the
model), the input features are compared with the reference as usual, and the model's outputs with the
captured outputs of the window just before (the same length, ending where the current window starts):

- prediction drift: `prediction` (the probability, tabular; the last label's, image) and `label`;
- confidence drift: `confidence` (the top class's probability).

They join the report as features of their own, named with these prefixes so no input feature is taken
for them, and they count toward the dataset's drifted share. The versions that answered in the
window (`model_version`) are named in the report.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from shared.drift.detect import DriftConfig, DriftResult, detect_drift
from shared.drift.histograms import CategoricalHistogram, NumericHistogram
from shared.drift.verdicts import dataset_drift
from shared.errors import EventParseError

if TYPE_CHECKING:
    from shared.payloads.drift import DataLocation
    from shared.ports import FeatureProfiler

log = logging.getLogger(__name__)
OUTPUTS = {
    "prediction": "prediction drift: prediction",
    "label": "prediction drift: label",
    "confidence": "confidence drift: confidence",
}
VERSION_COLUMN = "model_version"


@dataclass(frozen=True)
class ServedDrift:
    features: list  # FeatureDrift of the outputs, renamed with OUTPUTS
    histograms: dict[str, NumericHistogram | CategoricalHistogram]
    versions: tuple[str, ...]  # the model versions that answered in the current window (v1, v2, ...)
    baseline: str  # the window the outputs were compared with, in words, or why they were not


def served_drift(
    profiler: FeatureProfiler,
    current: DataLocation,
    window: tuple[datetime | None, datetime | None],
    config: DriftConfig,
) -> ServedDrift:
    """The outputs' drift against the window before, and the versions served. Needs a bounded window."""
    start, end = window
    if start is None or end is None:
        versions = _versions_only(profiler, current, window)
        return ServedDrift([], {}, versions, "no bounded current window: outputs not compared")
    baseline = replace(current, start=start - (end - start), end=start, window_hours=None)
    wanted = (*OUTPUTS, VERSION_COLUMN)
    try:
        profile = profiler.profile(baseline, current, current_window=window, features=wanted)
    except EventParseError as exc:  # no captured row before the window, say
        log.info("served predictions: no baseline window (%s)", exc)
        return ServedDrift([], {}, _versions_only(profiler, current, window), f"no baseline: {exc.reason}")
    versions = _versions(profile.histograms)
    if profile.reference_rows == 0:
        if not versions:
            versions = _versions_only(profiler, current, window)
        return ServedDrift([], {}, versions, "no predictions captured in the window before")
    outputs = replace(
        profile,
        histograms=[h for h in profile.histograms if h.feature in OUTPUTS],
        missing_columns={k: v for k, v in profile.missing_columns.items() if k in OUTPUTS},
        unsupported={k: v for k, v in profile.unsupported.items() if k in OUTPUTS},
    )
    methods = {f: config.methods[label] for f, label in OUTPUTS.items() if label in config.methods}
    result = detect_drift(outputs, replace(config, methods={**config.methods, **methods}))
    features = [replace(f, feature=OUTPUTS[f.feature]) for f in result.features]
    histograms = {OUTPUTS[h.feature]: replace(h, feature=OUTPUTS[h.feature]) for h in outputs.histograms}
    described = f"served predictions {baseline.start.isoformat() if baseline.start else ''} to {start.isoformat()}"
    return ServedDrift(features, histograms, versions, described)


def merged(result: DriftResult, served: ServedDrift, drift_share: float) -> DriftResult:
    """The features' result with the outputs' beside them (and the dataset's verdict over both)."""
    if not served.features:
        return result
    features = sorted([*result.features, *served.features], key=lambda f: (-f.score, f.feature))
    drifted, share = dataset_drift(features, drift_share)
    return replace(result, features=features, dataset_drifted=drifted, drifted_share=share)


def _versions(histograms: Sequence[NumericHistogram | CategoricalHistogram]) -> tuple[str, ...]:
    for h in histograms:
        if h.feature == VERSION_COLUMN and isinstance(h, CategoricalHistogram):
            found = {c for c, n in zip(h.categories, h.current_counts, strict=True) if n} | set(h.unseen)
            return tuple(sorted(found, key=_version_order))
    return ()


def _versions_only(
    profiler: FeatureProfiler, current: DataLocation, window: tuple[datetime | None, datetime | None]
) -> tuple[str, ...]:
    """The versions in the window alone (the window as both sides: its categories are what was served)."""
    start, end = window
    side = replace(current, start=start, end=end, window_hours=None)
    try:
        profile = profiler.profile(side, current, current_window=window, features=(VERSION_COLUMN,))
    except EventParseError:
        return ()
    return _versions(profile.histograms)


def _version_order(name: str) -> tuple[int, str]:
    digits = name[1:] if name.startswith("v") else name
    return (int(digits), name) if digits.isdigit() else (1 << 62, name)
