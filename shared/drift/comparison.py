"""The engine-independent half of a comparison: which features compare, and categorical merging.

DuckDbProfiler and BigQueryProfiler fetch counts their own way, then both come through here, so a
feature is missing, unsupported or compared by the same rules whatever engine counted it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from shared.drift.histograms import OTHER, CategoricalHistogram, SideSummary
from shared.drift.profiles import Profile

if TYPE_CHECKING:
    from shared.drift.histograms import BinValues, NumericHistogram
    from shared.drift.profiles import ReferenceProfile
    from shared.drift.refine import Ranges

UNSEEN_LISTED = 20


@dataclass(frozen=True)
class FeaturePlan:
    wanted: list[str]  # in the order asked for
    missing: dict[str, str]  # feature -> the side that lacks it
    numeric: list[str]
    categorical: list[str]
    unsupported: dict[str, str]  # feature -> its type, or "REF -> CUR" when the type changed


def plan_features(
    reference: ReferenceProfile,
    current_columns: Mapping[str, str],
    timestamp_column: str | None,
    *,
    counts_as_numeric: Callable[[str], bool],
    counts_as_categorical: Callable[[str], bool],
) -> FeaturePlan:
    """`counts_as_*` tell, from the current column's type, whether this engine can count it that way."""
    ref_columns = reference.columns
    wanted = [f for f in reference.features if f != timestamp_column]
    missing = {f: "reference" for f in wanted if f not in ref_columns}
    missing.update({f: "current" for f in wanted if f in ref_columns and f not in current_columns})
    present = [f for f in wanted if f not in missing]
    # A numeric column that is not numeric any more cannot be counted on the reference's cuts.
    numeric = [f for f in present if f in reference.numeric and counts_as_numeric(current_columns[f])]
    categorical = [f for f in present if f in reference.categorical and counts_as_categorical(current_columns[f])]
    unsupported = {
        f: ref_columns[f] if ref_columns[f] == current_columns[f] else f"{ref_columns[f]} -> {current_columns[f]}"
        for f in present
        if f not in numeric and f not in categorical
    }
    return FeaturePlan(wanted, missing, numeric, categorical, unsupported)


def finish_profile(
    plan: FeaturePlan,
    histograms: list[NumericHistogram | CategoricalHistogram],
    reference: ReferenceProfile,
    current_rows: int,
    *,
    read: Callable[[Any, Mapping[str, Ranges]], Mapping[str, BinValues]],
    current: Any,
    own_source: type,
) -> Profile:
    """The engine's histograms in the order asked for, with the readers of a second pass: `read` on the
    current source, and on the reference's when this engine read it too (`own_source`)."""
    order = {f: i for i, f in enumerate(plan.wanted)}
    histograms.sort(key=lambda h: order[h.feature])
    reference_values = partial(read, reference.source) if isinstance(reference.source, own_source) else None
    return Profile(
        histograms,
        plan.missing,
        plan.unsupported,
        reference.rows,
        current_rows,
        reference_values=reference_values,
        current_values=partial(read, current),
    )


def categorical_histogram(
    feature: str, reference: ReferenceProfile, current: Mapping[str | None, int], current_rows: int, cap: int
) -> CategoricalHistogram:
    """The reference's categories, the rarest past `cap` folded into OTHER; the current's unseen apart."""
    cur = {c: n for c, n in current.items() if c is not None}
    cur_missing = current.get(None, 0)
    ref = reference.categorical[feature].counts
    ranked = sorted(ref, key=lambda c: (-ref[c], c))
    kept, folded = ranked[:cap], ranked[cap:]
    categories = list(kept)
    ref_counts = [ref[c] for c in kept]
    cur_counts = [cur.get(c, 0) for c in kept]
    if folded:
        categories.append(OTHER)
        ref_counts.append(sum(ref[c] for c in folded))
        cur_counts.append(sum(cur.get(c, 0) for c in folded))
    unseen = {c: n for c, n in cur.items() if c not in ref}
    listed = dict(sorted(unseen.items(), key=lambda item: (-item[1], item[0]))[:UNSEEN_LISTED])
    return CategoricalHistogram(
        feature,
        tuple(categories),
        tuple(ref_counts),
        tuple(cur_counts),
        SideSummary(reference.rows, reference.categorical[feature].missing),
        SideSummary(current_rows, cur_missing),
        unseen=listed,
        unseen_total=sum(unseen.values()),
    )
