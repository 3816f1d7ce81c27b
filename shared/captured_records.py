"""Captured predictions as columns: what the inference service's capture hands a `PredictionSink`.

A sequence of records (request_id, row, served_at, model, version, env, kind, features, prediction, label,
confidence), each built only when read (the BigQuery sink reads them one by one), held as one chunk per
forward pass: its time, model, version, env and kind once, every other field and each feature as a
`Packed` column, so the Parquet sink builds its file from buffers (`arrow_columns`) without a Python
object per value.

Why packed: the capture packs a forward pass's rows on the thread that ran it, and keeps no object of the
request alive until its batch is written. On the demo model, keeping each request's rows, as dicts, until
their batch was written cost the service's event loop about 4 us of CPU per request, the memory of the
requests that followed scattered among them; packed, under 1 us (docs/capture-cost.md).
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    import pyarrow as pa

BASE = ("request_id", "row", "served_at", "model", "version", "env", "kind", "prediction", "label", "confidence")
_EXACT_FLOAT_INT = 2**53  # past it an int read as a float changes: Arrow refuses such a mix, and so do we
_STR, _INT, _FLOAT, _NUMBER = frozenset({str}), frozenset({int}), frozenset({float}), frozenset({int, float})


class Packed:
    """One column's values packed: `q` int64 or `d` float64 in an `array`; `s` strings joined by NUL into
    one str (no value holds a NUL); else `o` a list (None, bools, other mixes) whose type Arrow infers.
    Whatever the values, a packed column keeps a few objects alive, not one per value."""

    __slots__ = ("count", "kind", "values")

    def __init__(self, kind: str, values: Any, count: int) -> None:
        self.kind, self.values, self.count = kind, values, count

    @classmethod
    def of(cls, values: Sequence[Any]) -> Packed:
        count = len(values)
        kinds = set(map(type, values))
        if kinds == _STR:
            joined = "\0".join(values)
            if joined.count("\0") == count - 1:  # else a value holds a NUL: kept as it is
                return cls("s", joined, count)
        elif kinds == _INT:
            try:
                return cls("q", array("q", values), count)
            except OverflowError:
                pass
        elif kinds == _FLOAT or (kinds == _NUMBER and all(abs(v) <= _EXACT_FLOAT_INT for v in values)):
            return cls("d", array("d", values), count)
        return cls("o", list(values), count)

    def __len__(self) -> int:
        return self.count

    def to_list(self) -> list[Any]:
        if self.kind == "s":
            return self.values.split("\0") if self.count else []
        return list(self.values)

    def head(self, count: int) -> Packed:
        """The first `count` values."""
        if self.kind == "s":
            return Packed.of(self.to_list()[:count])
        return Packed(self.kind, self.values[:count], min(count, self.count))


def _arrow(columns: Sequence[Packed]) -> pa.Array:
    """One Arrow array of the columns' values, in order, converted once: ints joining floats as floats,
    other mixes of kinds as Arrow infers them from the values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kinds = {c.kind for c in columns if c.count}
    if kinds == {"s"}:
        joined = "\0".join(c.values for c in columns if c.count)
        return pc.split_pattern(pa.array([joined]), "\0").flatten()
    exact = kinds != {"q", "d"} or all(
        abs(v) <= _EXACT_FLOAT_INT for c in columns if c.kind == "q" for v in c.values
    )  # else an int Arrow would not read as a float: its refusal, from the values
    if exact and kinds in ({"q"}, {"d"}, {"q", "d"}):
        kind = "q" if kinds == {"q"} else "d"
        numbers = array(kind)
        for c in columns:
            numbers.extend(c.values if c.kind == kind else array(kind, c.values))
        number = pa.int64() if kind == "q" else pa.float64()
        return pa.Array.from_buffers(number, len(numbers), [None, pa.py_buffer(numbers)])
    return pa.array([value for c in columns for value in c.to_list()])


@dataclass(frozen=True, slots=True)
class CapturedChunk:
    """The records of one forward pass: one time, model, version, env and kind; a Packed column per other
    field and per feature (a feature a record lacks is None in it)."""

    served_at: datetime
    model: str
    version: int
    env: str
    kind: str
    columns: Mapping[str, Packed]  # request_id, row, prediction, label, confidence
    features: Mapping[str, Packed]

    @classmethod
    def of(
        cls,
        *,
        served_at: datetime,
        model: str,
        version: int,
        env: str,
        kind: str,
        request_ids: Sequence[str],
        rows: Sequence[int],
        features: Sequence[Mapping[str, Any]],
        predictions: Sequence[float | None],
        labels: Sequence[str | None],
        confidences: Sequence[float | None],
    ) -> CapturedChunk:
        """Packed from one value per record in each sequence, which are all as long."""
        count = len(rows)
        if not all(len(s) == count for s in (request_ids, features, predictions, labels, confidences)):
            raise ValueError("every field needs one value per record")
        columns = {
            "request_id": Packed.of(request_ids),
            "row": Packed.of(rows),
            "prediction": Packed.of(predictions),
            "label": Packed.of(labels),
            "confidence": Packed.of(confidences),
        }
        by_name = {name: Packed.of(values) for name, values in feature_columns(features).items()}
        return cls(served_at, model, version, env, kind, columns, by_name)

    def __len__(self) -> int:
        return len(self.columns["row"])

    def head(self, count: int) -> CapturedChunk:
        """Its first `count` records."""
        columns = {name: values.head(count) for name, values in self.columns.items()}
        features = {name: values.head(count) for name, values in self.features.items()}
        return CapturedChunk(self.served_at, self.model, self.version, self.env, self.kind, columns, features)

    def records(self) -> list[dict[str, Any]]:
        """Its records as dicts (`features`: those the record has, not None)."""
        columns = {name: values.to_list() for name, values in self.columns.items()}
        features = {name: values.to_list() for name, values in self.features.items()}
        out = []
        for i in range(len(self)):
            record = {"request_id": columns["request_id"][i], "row": columns["row"][i]}
            record.update(served_at=self.served_at, model=self.model, version=self.version, env=self.env)
            record.update(kind=self.kind, prediction=columns["prediction"][i], label=columns["label"][i])
            record["confidence"] = columns["confidence"][i]
            values = ((name, values[i]) for name, values in features.items())
            record["features"] = {name: value for name, value in values if value is not None}
            out.append(record)
        return out

    @property
    def day(self) -> tuple[str, str, date]:
        """Its env, model and UTC day."""
        return self.env, self.model, self.served_at.astimezone(UTC).date()


def feature_columns(features: Sequence[Mapping[str, Any]]) -> dict[str, Sequence[Any]]:
    """Each feature's values, None where a mapping lacks it, first seen first. In C-level passes
    (itemgetter, zip) when every mapping has the first one's keys: the usual batch, rows of one model's
    features or image summaries."""
    if not features:
        return {}
    names = list(features[0])
    if names and set(map(len, features)) == {len(names)}:
        try:
            values = list(map(itemgetter(*names), features))
        except KeyError:
            pass
        else:
            if len(names) == 1:
                return {names[0]: values}
            return dict(zip(names, zip(*values, strict=True), strict=True))
    every = dict.fromkeys(name for f in features for name in f)
    return {name: [f.get(name) for f in features] for name in every}


class CapturedRecords(Sequence[dict[str, Any]]):
    """Records as CapturedChunks, read as dicts (built when read) or as Arrow columns."""

    def __init__(self, chunks: Sequence[CapturedChunk] = ()) -> None:
        self.chunks = [chunk for chunk in chunks if len(chunk)]
        self._ends = list(itertools.accumulate(map(len, self.chunks)))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        k = bisect.bisect_right(self._ends, index)
        return self.chunks[k].records()[index - (self._ends[k - 1] if k else 0)]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for chunk in self.chunks:
            yield from chunk.records()

    def parts(self) -> Iterator[tuple[tuple[str, str, date], CapturedRecords]]:
        """The records by env, model and UTC day of served_at, in order of first appearance."""
        by_day: dict[tuple[str, str, date], list[CapturedChunk]] = {}
        for chunk in self.chunks:
            by_day.setdefault(chunk.day, []).append(chunk)
        for day, chunks in by_day.items():
            yield day, (self if len(by_day) == 1 else CapturedRecords(chunks))

    def arrow_columns(self) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
        """BASE's columns (`served_at` a UTC timestamp) and each feature's, first seen first: one
        conversion per column, whatever the number of chunks."""
        import pyarrow as pa

        chunks = self.chunks
        # a chunk's time, model, version, env and kind once per chunk, then taken for each of its records
        index = array("i")
        for k, chunk in enumerate(chunks):
            index.extend(array("i", [k]) * len(chunk))
        of_chunk = pa.Array.from_buffers(pa.int32(), len(index), [None, pa.py_buffer(index)])
        columns: dict[str, pa.Array] = {}
        for name in BASE:
            if name == "served_at":  # as microseconds: Arrow reads a datetime slowly
                micros = pa.array([_microseconds(c.served_at) for c in chunks], pa.int64())
                columns[name] = micros.take(of_chunk).cast(pa.timestamp("us", tz="UTC"))
            elif name in ("model", "version", "env", "kind"):
                columns[name] = pa.array([getattr(c, name) for c in chunks]).take(of_chunk)
            else:
                columns[name] = _arrow([c.columns[name] for c in chunks])
        names = dict.fromkeys(name for c in chunks for name in c.features)
        features = {}
        for name in names:
            features[name] = _arrow([c.features.get(name) or Packed("o", [None] * len(c), len(c)) for c in chunks])
        return columns, features

    @classmethod
    def of(cls, records: Sequence[Mapping[str, Any]]) -> CapturedRecords:
        """Ready-made records (dicts with BASE's fields and `features`): a chunk per run of records that
        share a time, model, version, env and kind."""
        chunks = []
        for (at, model, version, env, kind), run in itertools.groupby(records, key=_once_per_chunk):
            rows = list(run)
            chunks.append(
                CapturedChunk.of(
                    served_at=at,
                    model=model,
                    version=version,
                    env=env,
                    kind=kind,
                    request_ids=[r["request_id"] for r in rows],
                    rows=[r["row"] for r in rows],
                    features=[r.get("features") or {} for r in rows],
                    predictions=[r.get("prediction") for r in rows],
                    labels=[r.get("label") for r in rows],
                    confidences=[r.get("confidence") for r in rows],
                )
            )
        return cls(chunks)


def _once_per_chunk(record: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(record.get(name) for name in ("served_at", "model", "version", "env", "kind"))


def _microseconds(at: datetime) -> int:
    """Since the epoch, UTC; a naive time is taken as UTC, as Arrow takes it."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
