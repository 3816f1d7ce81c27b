"""From a profile (histograms) to the drift decision per feature and for the dataset."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.drift.histograms import NumericHistogram
from shared.drift.profiles import Profile
from shared.drift.refine import Target, refine
from shared.drift.statistics import ks_p_value
from shared.drift.verdicts import DEFAULT_METHODS, FeatureDrift, check_method, dataset_drift, feature_drift
from shared.errors import EventParseError

DEFAULT_DRIFT_SHARE = 0.3


@dataclass(frozen=True)
class DriftConfig:
    """Method and threshold per feature (by name), else per kind; the dataset's drifted-share threshold."""

    methods: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    numeric: tuple[str, float] = DEFAULT_METHODS["numeric"]
    categorical: tuple[str, float] = DEFAULT_METHODS["categorical"]
    drift_share: float = DEFAULT_DRIFT_SHARE

    def method_for(self, feature: str, kind: str) -> tuple[str, float]:
        return self.methods.get(feature) or (self.numeric if kind == "numeric" else self.categorical)


@dataclass(frozen=True)
class DriftResult:
    features: list[FeatureDrift]  # most drifted first
    dataset_drifted: bool
    drifted_share: float
    reference_rows: int
    current_rows: int
    unsupported: dict[str, str]


def _target(hist: NumericHistogram, method: str, threshold: float) -> Target:
    """What a numeric feature's bracket must reach for `method` at `threshold` (see `refine`)."""
    ref = hist.reference
    constant = ref.minimum is not None and ref.minimum == ref.maximum
    scale = 0.0 if constant or ref.std is None else float(ref.std)
    n, m = hist.present
    if method == "ks" and n and m:
        return Target(scale, ks_decides=lambda statistic: ks_p_value(statistic, n, m) < threshold)
    return Target(scale, wasserstein_threshold=threshold if method == "wasserstein" else None)


def detect_drift(profile: Profile, config: DriftConfig | None = None) -> DriftResult:
    """Each feature's verdict; numeric brackets left in doubt by the bins are refined first (`refine`)."""
    config = config or DriftConfig()
    methods = {}
    for hist in profile.histograms:
        kind = "numeric" if isinstance(hist, NumericHistogram) else "categorical"
        methods[hist.feature] = config.method_for(hist.feature, kind)
        try:
            check_method(kind, *methods[hist.feature])
        except ValueError as exc:  # a method that does not fit the column: the request is at fault
            raise EventParseError(str(exc), field=f"methods.{hist.feature}") from None
    numeric = [h for h in profile.histograms if isinstance(h, NumericHistogram)]
    targets = {h.feature: _target(h, *methods[h.feature]) for h in numeric}
    bounds = refine(numeric, targets, profile.reference_values, profile.current_values)
    features = []
    for hist in profile.histograms:
        method, threshold = methods[hist.feature]
        features.append(feature_drift(hist, method=method, threshold=threshold, bounds=bounds.get(hist.feature)))
    for feature, side in profile.missing_columns.items():
        features.append(FeatureDrift.missing_column(feature, side))
    features.sort(key=lambda f: (-f.score, f.feature))
    drifted, share = dataset_drift(features, config.drift_share)
    return DriftResult(features, drifted, share, profile.reference_rows, profile.current_rows, profile.unsupported)
