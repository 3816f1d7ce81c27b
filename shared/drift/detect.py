"""From a profile (histograms) to the drift decision per feature and for the dataset."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.drift.duckdb_profiler import Profile
from shared.drift.histograms import NumericHistogram
from shared.drift.statistics import DEFAULT_METHODS, FeatureDrift, dataset_drift, feature_drift
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


def detect_drift(profile: Profile, config: DriftConfig | None = None) -> DriftResult:
    config = config or DriftConfig()
    features = []
    for hist in profile.histograms:
        kind = "numeric" if isinstance(hist, NumericHistogram) else "categorical"
        method, threshold = config.method_for(hist.feature, kind)
        try:
            features.append(feature_drift(hist, method=method, threshold=threshold))
        except ValueError as exc:  # a method that does not fit the column: the request is at fault
            raise EventParseError(str(exc), field=f"methods.{hist.feature}") from None
    for feature, side in profile.missing_columns.items():
        features.append(FeatureDrift.missing_column(feature, side))
    features.sort(key=lambda f: (-f.score, f.feature))
    drifted, share = dataset_drift(features, config.drift_share)
    return DriftResult(features, drifted, share, profile.reference_rows, profile.current_rows, profile.unsupported)
