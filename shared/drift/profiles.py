"""What a drift engine hands the decision: the reference's profile (kept between runs) and the comparison
of both sides as histograms. Engine-neutral: the DuckDB and BigQuery engines build these, `detect` and the
ports read them, and neither depends on an engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from shared.drift.histograms import (
    BinStats,
    BinValues,
    CategoricalHistogram,
    NumericHistogram,
    SideSummary,
    pack,
    unpack,
)

if TYPE_CHECKING:
    from shared.drift.refine import ValueReader


@dataclass(frozen=True)
class NumericReference:
    cuts: tuple[float, ...]
    counts: tuple[int, ...]
    summary: SideSummary
    bins: BinStats | None = None  # per-bin sums and extremes (`shared.drift.bounds`)
    tails: dict[int, BinValues] = field(default_factory=dict)  # exact values of the outermost bins

    def to_json(self) -> dict[str, Any]:
        return {
            "cuts": pack(self.cuts),
            "counts": pack(self.counts, "<i8"),
            "summary": asdict(self.summary),
            "bins": self.bins.to_json() if self.bins is not None else None,
            "tails": {str(b): v.to_json() for b, v in self.tails.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NumericReference:
        bins = BinStats.from_json(data["bins"]) if data.get("bins") else None
        tails = {int(b): BinValues.from_json(v) for b, v in (data.get("tails") or {}).items()}
        cuts = tuple(unpack(data["cuts"]).tolist())  # tolist: Python floats and ints, ten times faster than a loop
        counts = tuple(unpack(data["counts"], "<i8").tolist())
        return cls(cuts, counts, SideSummary(**data["summary"]), bins, tails)


@dataclass(frozen=True)
class CategoricalReference:
    counts: dict[str, int]  # every category the reference has (NULL not among them)
    missing: int


@dataclass(frozen=True)
class ReferenceProfile:
    """All the reference side contributes, computed once: a scheduled run against the same reference
    can reuse it (see `to_json`) and only read its current window."""

    columns: dict[str, str]  # name -> DuckDB type
    rows: int
    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    features: tuple[str, ...]  # what was asked for, in order (columns the reference lacks included)
    # Where it was read (a ParquetSource or a BigQuery TableSource): a second pass re-reads a few bins.
    source: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source.to_json() if self.source is not None else None,
            "columns": self.columns,
            "rows": self.rows,
            "features": list(self.features),
            "numeric": {f: n.to_json() for f, n in self.numeric.items()},
            "categorical": {f: {"counts": c.counts, "missing": c.missing} for f, c in self.categorical.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        return cls(
            columns=dict(data["columns"]),
            rows=int(data["rows"]),
            numeric={f: NumericReference.from_json(n) for f, n in data["numeric"].items()},
            categorical={
                f: CategoricalReference(dict(c["counts"]), int(c["missing"])) for f, c in data["categorical"].items()
            },
            features=tuple(data["features"]),
            source=_source_from_json(data.get("source")),
        )


@dataclass(frozen=True)
class Profile:
    histograms: list[NumericHistogram | CategoricalHistogram]
    missing_columns: dict[str, str]  # feature -> "reference" | "current": the side that lacks it
    unsupported: dict[str, str]  # feature -> its type, neither numeric nor categorical
    reference_rows: int
    current_rows: int
    # Each side's values in given ranges, per distinct value (a second pass where bins leave doubt);
    # None where the engine cannot re-read that side.
    reference_values: ValueReader | None = field(default=None, compare=False)
    current_values: ValueReader | None = field(default=None, compare=False)


# Each engine registers how its source description is read back (`register_source`), so a profile
# loaded from the cache can be re-read by a second pass without this module knowing any engine.
_SOURCES: dict[str, Callable[[Mapping[str, Any]], Any]] = {}


def register_source(engine: str, from_json: Callable[[Mapping[str, Any]], Any]) -> None:
    _SOURCES[engine] = from_json


def _source_from_json(data: Mapping[str, Any] | None) -> Any:
    """The engine's own description of where the reference was read; None for an engine not loaded
    (the second pass then reads only the current side)."""
    if not data:
        return None
    read = _SOURCES.get(str(data.get("engine")))
    return read(data) if read else None
