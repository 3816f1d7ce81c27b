"""Captured predictions as columns: what the inference service's capture hands a `PredictionSink`.

A sequence of records (request_id, row, served_at, model, version, env, kind, features, prediction, label,
confidence), each built only when read (the BigQuery sink reads them one by one), held as one list per
field and per feature so the Parquet sink builds its file without a dict per row: the capture's writer
thread holds the GIL while it reads Python objects, and on the demo model every microsecond per row of that
was a microsecond the service's event loop waited (docs/capture-cost.md).
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, overload

BASE = ("request_id", "row", "served_at", "model", "version", "env", "kind", "prediction", "label", "confidence")


class CapturedRecords(Sequence[dict[str, Any]]):
    """Records appended a forward pass at a time (`add`), read as dicts or as `columns` and `features`
    (a feature a record lacks is None in its column; a record's `features` leave out its None values)."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in BASE}
        self.features: dict[str, list[Any]] = {}  # first seen first
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if not -self._count <= index < self._count:
            raise IndexError(index)
        index %= self._count
        record = {name: values[index] for name, values in self.columns.items()}
        record["features"] = {
            name: values[index] for name, values in self.features.items() if values[index] is not None
        }
        return record

    def add(
        self,
        *,
        request_ids: Sequence[str],
        rows: Sequence[int],
        served_at: datetime,
        model: str,
        version: int,
        env: str,
        kind: str,
        features: Sequence[Mapping[str, Any]],
        predictions: Sequence[float | None],
        labels: Sequence[str | None],
        confidences: Sequence[float | None],
    ) -> None:
        """Records of one model, version and time: one per item of the sequences, which are all as long."""
        count = len(rows)
        if not all(len(s) == count for s in (request_ids, features, predictions, labels, confidences)):
            raise ValueError("every field needs one value per record")
        columns = self.columns
        columns["request_id"] += request_ids
        columns["row"] += rows
        columns["prediction"] += predictions
        columns["label"] += labels
        columns["confidence"] += confidences
        for name, value in (("served_at", served_at), ("model", model), ("version", version), ("env", env)):
            columns[name] += [value] * count
        columns["kind"] += [kind] * count
        self._add_features(features)
        self._count += count

    def _add_features(self, features: Sequence[Mapping[str, Any]]) -> None:
        count = len(features)
        by_name = _same_keys(features)
        if by_name is None:  # rows with different features: read row by row
            names = dict.fromkeys(name for f in features for name in f)
            by_name = {name: [f.get(name) for f in features] for name in names}
        for name, values in by_name.items():
            column = self.features.get(name)
            if column is None:
                column = self.features[name] = [None] * self._count
            column += values
        for name, column in self.features.items():
            if name not in by_name:
                column += [None] * count

    def parts(self) -> Iterator[tuple[tuple[str, str, date], CapturedRecords]]:
        """The records by env, model and UTC day of served_at, in order of first appearance (one part
        for a usual batch)."""
        columns = self.columns
        # each forward pass's records share one time: the distinct (env, model, time) are few
        times = dict.fromkeys(zip(columns["env"], columns["model"], columns["served_at"], strict=True))
        day_of = {(env, model, at): (env, model, _utc_day(at)) for env, model, at in times}
        if len(set(day_of.values())) <= 1:
            yield from ((key, self) for key in dict.fromkeys(day_of.values()))
            return
        keys = [day_of[k] for k in zip(columns["env"], columns["model"], columns["served_at"], strict=True)]
        for key in dict.fromkeys(keys):
            picked = [i for i, k in enumerate(keys) if k == key]
            part = CapturedRecords()
            part.columns = {name: [values[i] for i in picked] for name, values in columns.items()}
            for name, values in self.features.items():
                kept = [values[i] for i in picked]
                if any(v is not None for v in kept):  # only the features its records have
                    part.features[name] = kept
            part._count = len(picked)
            yield key, part

    @classmethod
    def of(cls, records: Sequence[Mapping[str, Any]]) -> CapturedRecords:
        """Ready-made records (dicts with BASE's fields and `features`), as columns."""
        out = cls()
        for name in BASE:
            out.columns[name] = [r.get(name) for r in records]
        out._add_features([r.get("features") or {} for r in records])
        out._count = len(records)
        return out


def _same_keys(features: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]] | None:
    """Each feature's values when every mapping has the same keys as the first, else None. In C-level
    passes (itemgetter, zip): the usual batch, rows of one model's features or image summaries."""
    if not features:
        return {}
    names = list(features[0])
    if not names:
        return {} if not any(features) else None
    if any(len(f) != len(names) for f in features):
        return None
    try:
        values = list(map(operator.itemgetter(*names), features))
    except KeyError:
        return None
    if len(names) == 1:
        return {names[0]: values}
    return dict(zip(names, map(list, zip(*values, strict=True)), strict=True))


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()
