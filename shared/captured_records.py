"""Captured predictions as columns: what the inference service's capture hands a `PredictionSink`.

A sequence of records (request_id, row, served_at, model, version, env, kind, features, prediction, label,
confidence), each built only when read (the BigQuery sink reads them one by one), held as chunks of one
model, version, env and kind (a few dozen forward passes packed together): those four once, every other
field (`served_at` in microseconds) and each feature as a `Packed` column, so the Parquet sink builds its
file from buffers (`arrow_columns`) without a Python object per value.

Why packed: the capture packs forward passes' rows on the thread that ran them, and keeps no object of the
requests alive until their batch is written. On the demo model, keeping each request's rows, as dicts, until
their batch was written cost the service's event loop about 4 us of CPU per request, the memory of the
requests that followed scattered among them; packed, under 1 us (docs/capture-cost.md).
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    """Records of one model, version, env and kind (one or several forward passes): a Packed column per
    other field and per feature (a feature a record lacks is None in it); `served_at` in microseconds since
    the epoch, UTC."""

    model: str
    version: int
    env: str
    kind: str
    served_at: Packed
    columns: Mapping[str, Packed]  # request_id, row, prediction, label, confidence
    features: Mapping[str, Packed]

    @classmethod
    def of(
        cls,
        *,
        served_at: Sequence[datetime],
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
        fields = (served_at, request_ids, features, predictions, labels, confidences)
        if not all(len(s) == count for s in fields):
            raise ValueError("every field needs one value per record")
        times = {at: microseconds(at) for at in set(served_at)}  # a few distinct times
        columns = {
            "request_id": Packed.of(request_ids),
            "row": Packed.of(rows),
            "prediction": Packed.of(predictions),
            "label": Packed.of(labels),
            "confidence": Packed.of(confidences),
        }
        by_name = {name: Packed.of(values) for name, values in feature_columns(features).items()}
        micros = Packed("q", array("q", map(times.__getitem__, served_at)), count)
        return cls(model, version, env, kind, micros, columns, by_name)

    def __len__(self) -> int:
        return self.served_at.count

    def taking(self, take: Callable[[Packed], Packed]) -> CapturedChunk:
        """The chunk of the records `take` leaves in each column."""
        columns = {name: take(values) for name, values in self.columns.items()}
        features = {name: take(values) for name, values in self.features.items()}
        features = {name: values for name, values in features.items() if any(v is not None for v in values.to_list())}
        return CapturedChunk(self.model, self.version, self.env, self.kind, take(self.served_at), columns, features)

    def records(self) -> list[dict[str, Any]]:
        """Its records as dicts (`served_at` a UTC datetime; `features`: those the record has, not None)."""
        columns = {name: values.to_list() for name, values in self.columns.items()}
        features = {name: values.to_list() for name, values in self.features.items()}
        times = {m: _EPOCH + timedelta(microseconds=m) for m in set(self.served_at.values)}
        out = []
        for i, at in enumerate(self.served_at.values):
            record = {"request_id": columns["request_id"][i], "row": columns["row"][i]}
            record.update(served_at=times[at], model=self.model, version=self.version, env=self.env)
            record.update(kind=self.kind, prediction=columns["prediction"][i], label=columns["label"][i])
            record["confidence"] = columns["confidence"][i]
            values = ((name, values[i]) for name, values in features.items())
            record["features"] = {name: value for name, value in values if value is not None}
            out.append(record)
        return out

    def by_day(self) -> Iterator[tuple[tuple[str, str, date], CapturedChunk]]:
        """Its records by UTC day (its env and model, and the day), in order of first appearance: the chunk
        itself when they share one, as they almost always do."""
        days = [m // _DAY_US for m in self.served_at.values]
        distinct = dict.fromkeys(days)
        for day in distinct:
            key = (self.env, self.model, (_EPOCH + timedelta(days=day)).date())
            if len(distinct) == 1:
                yield key, self
                continue
            yield key, self.taking(_rows_of([i for i, d in enumerate(days) if d == day]))


def _rows_of(picked: list[int]) -> Callable[[Packed], Packed]:
    def take(values: Packed) -> Packed:
        every = values.to_list()
        return Packed.of([every[i] for i in picked])

    return take


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
            for day, part in chunk.by_day():
                by_day.setdefault(day, []).append(part)
        for day, chunks in by_day.items():
            yield day, (self if len(by_day) == 1 else CapturedRecords(chunks))

    def arrow_columns(self) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
        """BASE's columns (`served_at` a UTC timestamp) and each feature's, first seen first: one
        conversion per column, whatever the number of chunks."""
        import pyarrow as pa

        chunks = self.chunks
        # a chunk's model, version, env and kind once per chunk, then taken for each of its records
        index = array("i")
        for k, chunk in enumerate(chunks):
            index.extend(array("i", [k]) * len(chunk))
        of_chunk = pa.Array.from_buffers(pa.int32(), len(index), [None, pa.py_buffer(index)])
        columns: dict[str, pa.Array] = {}
        for name in BASE:
            if name == "served_at":
                micros = _arrow([c.served_at for c in chunks])
                columns[name] = micros.cast(pa.int64()).cast(pa.timestamp("us", tz="UTC"))
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
        share a model, version, env and kind."""
        chunks = []
        for (model, version, env, kind), run in itertools.groupby(records, key=_once_per_chunk):
            rows = list(run)
            chunks.append(
                CapturedChunk.of(
                    served_at=[r["served_at"] for r in rows],
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
    return tuple(record.get(name) for name in ("model", "version", "env", "kind"))


def microseconds(at: datetime) -> int:
    """Since the epoch, UTC; a naive time is taken as UTC, as Arrow takes it."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000
