"""Feature histograms from Parquet files, computed by DuckDB while it streams them.

One full pass per side, each reading only the columns it needs:
1. reference cuts: per numeric feature its approximate quantiles (T-digest: O(1) memory per column)
   over a sample of the reference (about SAMPLE_ROWS rows, whole vectors of it: cheap to read); a
   feature with few distinct values is cut at every distinct value instead, which makes KS exact
   for it. Where the cuts fall only sets the resolution: both sides are then counted exactly on them;
2. each side, one pass: `histogram(x, cuts)` and the summary (rows, missing, min, max, mean, std)
   per numeric feature, `histogram(x)` (counts per value) per categorical feature.
What comes back is O(features x bins), whatever the row count.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.drift.bounds import BinValues
from shared.drift.comparison import categorical_histogram, plan_features
from shared.drift.histograms import (
    CategoricalHistogram,
    NumericHistogram,
    SideSummary,
    moments_origin,
    summary_from_moments,
)
from shared.errors import EventParseError, PermanentError

if TYPE_CHECKING:
    import duckdb

    from shared.drift.refine import Ranges, ValueReader

NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)
# Integers (not DECIMAL: 0.00 to 99.99 is no short integer range) can be cut at every value.
INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
CATEGORICAL_TYPES = ("VARCHAR", "BOOLEAN", "ENUM")
DEFAULT_FINE_BINS = 1000
DEFAULT_CATEGORY_CAP = 200
# Past this many reference rows the cuts come from a sample: T-digest quantiles of 100k rows place
# 1000 cuts as well as those of 10M (each bin then holds 0.1% +- 0.01% of the reference), and the
# sample pass costs a fraction of a full one.
SAMPLE_ROWS = 100_000
SAMPLE_SEED = 42  # the same reference gives the same cuts, run after run


@dataclass(frozen=True)
class ParquetSource:
    """Parquet files (paths or globs) and an optional window on a timestamp column."""

    paths: tuple[str, ...]
    timestamp_column: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive

    def __post_init__(self) -> None:
        if not self.paths:
            raise PermanentError("a Parquet source needs at least one path")
        if (self.start or self.end) and not self.timestamp_column:
            raise PermanentError("a time window needs the timestamp column it applies to")

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": "parquet",
            "paths": list(self.paths),
            "timestamp_column": self.timestamp_column,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParquetSource:
        start, end = (datetime.fromisoformat(data[k]) if data.get(k) else None for k in ("start", "end"))
        return cls(tuple(data["paths"]), data.get("timestamp_column"), start, end)


@dataclass(frozen=True)
class NumericReference:
    cuts: tuple[float, ...]
    counts: tuple[int, ...]
    summary: SideSummary


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
            "numeric": {
                f: {"cuts": list(n.cuts), "counts": list(n.counts), "summary": asdict(n.summary)}
                for f, n in self.numeric.items()
            },
            "categorical": {f: {"counts": c.counts, "missing": c.missing} for f, c in self.categorical.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        return cls(
            columns=dict(data["columns"]),
            rows=int(data["rows"]),
            numeric={
                f: NumericReference(tuple(n["cuts"]), tuple(n["counts"]), SideSummary(**n["summary"]))
                for f, n in data["numeric"].items()
            },
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


def _source_from_json(data: Mapping[str, Any] | None) -> Any:
    if not data:
        return None
    if data.get("engine") == "parquet":
        return ParquetSource.from_json(data)
    if data.get("engine") == "bigquery":
        from shared.drift.bigquery_profiler import TableSource

        return TableSource.from_json(data)
    return None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDbProfiler:
    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection | None = None,
        *,
        fine_bins: int = DEFAULT_FINE_BINS,
        category_cap: int = DEFAULT_CATEGORY_CAP,
        memory_limit: str = "1GB",
    ) -> None:
        if connection is None:
            import duckdb  # imported here: a function that never profiles Parquet never pays for it

            connection = duckdb.connect()
            connection.execute(f"SET memory_limit = '{memory_limit}'")
            connection.execute("SET enable_progress_bar = false")
        self._con = connection
        self._fine_bins = fine_bins
        self._category_cap = category_cap

    @property
    def settings(self) -> dict[str, int]:
        """What shapes a reference profile, so that a cached one is only reused under the same settings."""
        return {"fine_bins": self._fine_bins, "category_cap": self._category_cap, "sample_rows": SAMPLE_ROWS}

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """For a ParquetFiles that registers a filesystem on it."""
        return self._con

    # -- reading ---------------------------------------------------------------------------------
    def _relation(
        self, source: ParquetSource, *, windowed: bool = True, sample_percent: float | None = None
    ) -> tuple[str, list[Any]]:
        """A FROM ... WHERE ... clause over the source, with its parameters.

        A sample is taken before the window's filter, so `sample_percent` of the windowed rows remain.
        """
        from_clause = f"FROM read_parquet({_literal_paths(source.paths)}, union_by_name = true)"
        if sample_percent is not None:
            from_clause += f" TABLESAMPLE {sample_percent:.6f}% (system, {SAMPLE_SEED})"
        where, params = [], []
        if windowed and source.start:
            where.append(f"{_quote(source.timestamp_column or '')} >= ?")
            params.append(source.start)
        if windowed and source.end:
            where.append(f"{_quote(source.timestamp_column or '')} < ?")
            params.append(source.end)
        return from_clause + (f" WHERE {' AND '.join(where)}" if where else ""), params

    def _columns(self, source: ParquetSource) -> dict[str, str]:
        from_clause, _ = self._relation(source, windowed=False)
        try:
            described = self._con.execute(f"DESCRIBE SELECT * {from_clause}").fetchall()
        except Exception as exc:  # duckdb.IOException and friends: no such file, not Parquet
            raise PermanentError(f"cannot read {', '.join(source.paths)}: {exc}") from None
        columns = {row[0]: str(row[1]) for row in described}
        if source.start or source.end:
            _check_window_column(source, columns)
        return columns

    def _one_row(
        self, select: str, source: ParquetSource, select_params: Sequence[Any] = (), sample_percent: float | None = None
    ) -> tuple[Any, ...]:
        from_clause, params = self._relation(source, sample_percent=sample_percent)
        return self._con.execute(f"SELECT {select} {from_clause}", [*select_params, *params]).fetchone()

    # -- the plan --------------------------------------------------------------------------------
    def profile(
        self, reference: ParquetSource, current: ParquetSource, features: Sequence[str] | None = None
    ) -> Profile:
        skip = {reference.timestamp_column, current.timestamp_column}
        return self.compare(self.reference(reference, features, skip=skip), current)

    def reference(
        self, source: ParquetSource, features: Sequence[str] | None = None, *, skip: set[str | None] | None = None
    ) -> ReferenceProfile:
        """The reference's cuts (from a sample when it is large), then one pass counting it on them."""
        columns = self._columns(source)
        skip = skip or {source.timestamp_column}
        wanted = tuple(features) if features else tuple(c for c in columns if c not in skip)
        present = [f for f in wanted if f in columns]
        numeric = [f for f in present if columns[f].startswith(NUMERIC_TYPES)]
        categorical = [f for f in present if columns[f].startswith(CATEGORICAL_TYPES)]
        floats = _floats(numeric, columns)
        rows = int(self._one_row("count(*)", source)[0])
        integers = {f for f in numeric if columns[f].startswith(INTEGER_TYPES)}
        cuts = self._cuts(numeric, floats, integers, source, rows) if numeric else []
        counts, summaries, categories = self._counting_pass(numeric, floats, cuts, categorical, source, rows)
        numeric_reference = {f: NumericReference(cuts[i], counts[i], summaries[i]) for i, f in enumerate(numeric)}
        categorical_reference = {}
        for feature, found in zip(categorical, categories, strict=True):
            missing = found.pop(None, 0)
            categorical_reference[feature] = CategoricalReference({str(k): v for k, v in found.items()}, missing)
        return ReferenceProfile(columns, rows, numeric_reference, categorical_reference, wanted, source)

    def compare(self, reference: ReferenceProfile, current: ParquetSource) -> Profile:
        """One pass over the current data."""
        cur_columns = self._columns(current)
        plan = plan_features(
            reference,
            cur_columns,
            current.timestamp_column,
            counts_as_numeric=lambda kind: kind.startswith(NUMERIC_TYPES),
            counts_as_categorical=lambda kind: True,  # anything casts to VARCHAR
        )
        numeric, categorical = plan.numeric, plan.categorical
        floats = _floats(numeric, cur_columns)
        cur_rows = int(self._one_row("count(*)", current)[0])
        cuts = [reference.numeric[f].cuts for f in numeric]
        counts, summaries, categories = self._counting_pass(numeric, floats, cuts, categorical, current, cur_rows)
        histograms: list[NumericHistogram | CategoricalHistogram] = []
        for i, f in enumerate(numeric):
            ref = reference.numeric[f]
            histograms.append(NumericHistogram(f, ref.cuts, ref.counts, counts[i], ref.summary, summaries[i]))
        for feature, found in zip(categorical, categories, strict=True):
            histograms.append(categorical_histogram(feature, reference, found, cur_rows, self._category_cap))
        order = {f: i for i, f in enumerate(plan.wanted)}
        histograms.sort(key=lambda h: order[h.feature])
        reference_values = (
            partial(self.value_counts, reference.source) if isinstance(reference.source, ParquetSource) else None
        )
        return Profile(
            histograms,
            plan.missing,
            plan.unsupported,
            reference.rows,
            cur_rows,
            reference_values=reference_values,
            current_values=partial(self.value_counts, current),
        )

    def value_counts(self, source: ParquetSource, requests: Mapping[str, Ranges]) -> dict[str, BinValues]:
        """Each feature's present values inside its (lo, hi] ranges, per distinct value with counts, in
        one query over the source (each branch reads its own column)."""
        if not requests:
            return {}
        columns = self._columns(source)
        names = [f for f in requests if f in columns]
        floats = _floats(names, columns)
        from_clause, window = self._relation(source)
        branches, params = [], []
        for i, feature in enumerate(names):
            inside = " OR ".join(_range_test("v", lo, hi) for lo, hi in requests[feature]) or "FALSE"
            branches.append(
                f"SELECT {i} AS f, v FROM (SELECT {self._value(feature, floats)} AS v {from_clause})"
                f" WHERE v IS NOT NULL AND ({inside})"
            )
            params.extend(window)
        query = f"SELECT f, v, count(*)::BIGINT AS n FROM ({' UNION ALL '.join(branches)}) GROUP BY f, v ORDER BY f, v"
        found = self._con.execute(query, params).fetchnumpy()
        which = np.asarray(found["f"], dtype=np.int64)
        values = np.asarray(found["v"], dtype=np.float64)
        counts = np.asarray(found["n"], dtype=np.int64)
        return {f: BinValues(values[which == i], counts[which == i]) for i, f in enumerate(names)}

    def _value(self, feature: str, floats: set[str]) -> str:
        """The feature as DOUBLE with NaN and +-inf read as missing, as Evidently does (no value to bin,
        and one infinity would make the mean, the std and every distance infinite)."""
        column = _quote(feature)
        if feature in floats:
            return f"(CASE WHEN isfinite({column}) THEN {column}::DOUBLE END)"
        return f"{column}::DOUBLE"

    @staticmethod
    def _summary_sql(value: str, origin: float) -> str:
        """count, min, max and the first two moments about `origin` (see `summary_from_moments`)."""
        centred = f"({value} - {origin:.17e})"
        return f"count({value}), min({value}), max({value}), avg({centred}), avg({centred} * {centred})"

    @staticmethod
    def _summary(values: Sequence[Any], rows: int, origin: float) -> SideSummary:
        present, low, high, first, second = values
        return summary_from_moments(rows, int(present), low, high, origin, first, second)

    def _cuts(self, features, floats, integers, reference, rows) -> list[tuple[float, ...]]:
        """One pass over a sample of the reference: the cuts of every numeric feature.

        Cuts are approximate reference quantiles (T-digest, O(1) memory). A feature whose quantiles
        repeat is discrete: it is cut at every distinct value the sample has instead (a cut after
        each value but the largest, so every bin holds one reference value), which makes KS exact
        for it; integers over a short range are cut at every integer. A value the sample missed
        shares a bin with its neighbour: the counts stay exact, and the KS bound says so.
        """
        sample = 100.0 * SAMPLE_ROWS / rows if rows > 2 * SAMPLE_ROWS else None
        # approx_quantile takes its probabilities as FLOAT[] only.
        probabilities = "[" + ", ".join(str(i / self._fine_bins) for i in range(1, self._fine_bins)) + "]::FLOAT[]"
        values = [self._value(f, floats) for f in features]
        select = ", ".join(f"approx_quantile({v}, {probabilities}), min({v}), max({v})" for v in values)
        with self._single_thread():
            row = self._one_row(select, reference, sample_percent=sample)
        cuts = []
        for i, (feature, value) in enumerate(zip(features, values, strict=True)):
            quantiles = sorted({float(q) for q in (row[3 * i] or []) if q is not None})
            low, high = row[3 * i + 1], row[3 * i + 2]
            if feature in integers and low is not None and high is not None and high - low < self._fine_bins:
                # Integers over a short range: cut at every integer, with no extra pass.
                quantiles = [float(v) for v in range(int(low), int(high))]
            elif len(quantiles) < (self._fine_bins - 1) // 2:  # quantiles repeat: few distinct floats
                from_clause, params = self._relation(reference, sample_percent=sample)
                query = f"SELECT DISTINCT {value} AS v {from_clause} ORDER BY v LIMIT {self._fine_bins + 1}"
                found = [float(r[0]) for r in self._con.execute(query, params).fetchall() if r[0] is not None]
                if len(found) <= self._fine_bins:
                    quantiles = found[:-1]
            cuts.append(tuple(quantiles))
        return cuts

    @contextmanager
    def _single_thread(self) -> Iterator[None]:
        """T-digests built on several threads are merged in whatever order the threads finish, so the
        same data could give other cuts on another run; one thread over a sample costs little."""
        threads = self._con.execute("SELECT current_setting('threads')").fetchone()[0]
        self._con.execute("SET threads = 1")
        try:
            yield
        finally:
            self._con.execute(f"SET threads = {int(threads)}")

    def _counting_pass(self, numeric, floats, cuts, categorical, source, rows):
        """One pass: every numeric feature's histogram on its cuts and its summary, and every
        categorical feature's count per value (NULL under None)."""
        # Each value is projected once in a subquery: inline, DuckDB evaluated the NaN test once per
        # aggregate (six times per feature), which cost ~7% of the pass.
        projection, parts = [], []
        for i, (f, c) in enumerate(zip(numeric, cuts, strict=True)):
            projection.append(f"{self._value(f, floats)} AS n{i}")
            parts.append(f"histogram(n{i}, {_double_list(c)})" if c else f"count(n{i})")
            parts.append(self._summary_sql(f"n{i}", moments_origin(c)))
        for i, f in enumerate(categorical):
            projection.append(f"{_quote(f)}::VARCHAR AS c{i}")
            parts.append(f"histogram(c{i}), count(c{i})")
        if not parts:
            return [], [], []
        from_clause, params = self._relation(source)
        query = f"SELECT {', '.join(parts)} FROM (SELECT {', '.join(projection)} {from_clause})"
        row = self._con.execute(query, params).fetchone()
        counts, summaries = [], []
        for i, feature_cuts in enumerate(cuts):
            value = row[6 * i]
            summaries.append(self._summary(row[6 * i + 1 : 6 * i + 6], rows, moments_origin(feature_cuts)))
            if not feature_cuts:  # no cut: one bin holding every present value
                counts.append((int(value or 0),))
                continue
            by_boundary = dict(value or {})
            bins = [int(by_boundary.get(c, 0)) for c in feature_cuts]
            bins.append(int(sum(n for b, n in by_boundary.items() if b > feature_cuts[-1])))
            counts.append(tuple(bins))
        categories = []
        offset = 6 * len(cuts)
        for i in range(len(categorical)):
            found: dict[str | None, int] = {k: int(n) for k, n in (row[offset + 2 * i] or {}).items()}
            present = int(row[offset + 2 * i + 1])
            if present < rows:
                found[None] = rows - present
            categories.append(found)
        return counts, summaries, categories


_WINDOW_TYPES = ("TIMESTAMP", "DATE")  # TIMESTAMP, TIMESTAMP WITH TIME ZONE, TIMESTAMP_NS, ... and DATE


def _check_window_column(source: ParquetSource, columns: Mapping[str, str]) -> None:
    """A window on a column the files lack (a misspelling) or that holds no time is the request's fault:
    refused naming the field, before anything is read or written (DuckDB would raise a BinderException)."""
    name = source.timestamp_column or ""
    kind = columns.get(name)
    if kind is None:
        near = ", ".join(sorted(c for c in columns if columns[c].startswith(_WINDOW_TYPES))[:5]) or "none"
        raise EventParseError(
            f"{name!r:.80} is not a column of {', '.join(source.paths)[:200]} (time columns: {near[:200]})",
            field="timestamp_column",
        )
    if not kind.startswith(_WINDOW_TYPES):
        raise EventParseError(f"{name!r:.80} is {kind}, not a TIMESTAMP or DATE column", field="timestamp_column")


def _floats(features: Sequence[str], columns: Mapping[str, str]) -> set[str]:
    return {f for f in features if columns[f].startswith(("FLOAT", "DOUBLE"))}


def _range_test(name: str, lo: float, hi: float) -> str:
    """`lo < name <= hi` in SQL, exact to the bit (see `_double_list`); infinite ends left out."""
    tests = [f"{name} > {lo:.17e}" if math.isfinite(lo) else "", f"{name} <= {hi:.17e}" if math.isfinite(hi) else ""]
    return "(" + (" AND ".join(t for t in tests if t) or "TRUE") + ")"


def _double_list(values: Sequence[float]) -> str:
    """Cuts as a constant DOUBLE[] literal, exact to the bit.

    A plain decimal literal is read as DECIMAL and converted, which can land one ulp off (and then a
    value equal to a cut changes bin); scientific notation is read as DOUBLE directly. A bound
    parameter would be exact too, but DuckDB then bins several times slower (not constant-folded).
    """
    return "[" + ", ".join(f"{v:.17e}" for v in values) + "]"


def _literal_paths(paths: Sequence[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
