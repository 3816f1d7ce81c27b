"""Feature histograms from Parquet files: DuckDB reads and filters them, numpy sorts each column.

Per side, a few queries, each reading only the columns it needs:
1. numeric features, a group of columns per query (bounded memory): each column's present values
   (NaN and +-inf are missing) sorted in numpy (`column_profile`): on the reference, exact quantile
   cuts (every distinct value when there are few, which makes KS and Wasserstein exact); on both
   sides, per bin its count, sum, min and max, the side's summary, and the exact values of the
   outermost bins. A sort of 1M doubles costs ~20 ms, DuckDB's `histogram(x, cuts)` cost ~200 ms;
2. categorical features: counts per value, a GROUP BY per feature in one UNION ALL.
What is kept is O(features x bins), whatever the row count. Where the bins leave Wasserstein or KS
in doubt, `value_counts` reads just the values of the uncertain bins (`shared.drift.refine`).

Over the ~400 lines a runtime module keeps to, on purpose: one profiler, one DuckDB connection and
one plan (the reference's cuts and the file list feed every later query); split, each part would
need the connection, the source's checks and the column groups of the others.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from shared.drift.column_profile import choose_cuts, profile_column
from shared.drift.comparison import categorical_histogram, finish_profile, plan_features
from shared.drift.histograms import (
    BinValues,
    CategoricalHistogram,
    NumericHistogram,
)
from shared.drift.profiles import CategoricalReference, NumericReference, Profile, ReferenceProfile, register_source
from shared.errors import EventParseError, PermanentError

if TYPE_CHECKING:
    import duckdb

    from shared.drift.refine import Ranges

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
DEFAULT_FINE_BINS = 2000
# Values fetched per query (8 bytes each, and as much again while sorting; one group sorts while the
# next is fetched): columns come in groups that fit, so 10M rows a side stay under 1.5 GB. Groups of
# 4M values (4 columns at 1M rows) rather than 8M: the last group's sort, which nothing overlaps, is
# shorter, and fewer fresh pages are touched (a warm run at 1M rows 0.447 -> 0.414 s, peak 306 -> 225 MB).
COLUMN_BUDGET = 4_000_000
DEFAULT_CATEGORY_CAP = 200


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


register_source("parquet", ParquetSource.from_json)


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
        return {"fine_bins": self._fine_bins, "category_cap": self._category_cap}

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """For a ParquetFiles that registers a filesystem on it."""
        return self._con

    # -- reading ---------------------------------------------------------------------------------
    def _relation(self, source: ParquetSource, *, windowed: bool = True) -> tuple[str, list[Any]]:
        """A FROM ... WHERE ... clause over the source, with its parameters."""
        from_clause = f"FROM read_parquet({_literal_paths(source.paths)}, union_by_name = true)"
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
        if any(kind == "FLOAT" for kind in columns.values()):
            columns.update(self._rounded_by_union(source, [c for c, kind in columns.items() if kind == "FLOAT"]))
        return columns

    def _rounded_by_union(self, source: ParquetSource, floats: Sequence[str]) -> dict[str, str]:
        """Columns read as FLOAT (32 bits) only because files disagree on their type: DuckDB unifies an
        INT64 file and a FLOAT file as FLOAT, which rounds every integer past 2**24. Such a column is
        reported unsupported, with both types, rather than compared on rounded values."""
        # DISTINCT: a file two globs reach is listed twice, and its two copies would interleave in the walk.
        query = (
            "SELECT DISTINCT file_name, column_id, name, num_children, duckdb_type"
            f" FROM parquet_schema({_literal_paths(source.paths)}) ORDER BY file_name, column_id"
        )
        kinds = _top_level_types(self._con.execute(query).fetchall())
        return {
            c: "FLOAT rounded from " + "/".join(sorted(kinds[c.lower()] - {"FLOAT"}))
            for c in floats
            if kinds.get(c.lower(), set()) - {"FLOAT"}
        }

    def _rows(self, source: ParquetSource) -> int:
        """The source's rows (inside its window), missing values included."""
        from_clause, params = self._relation(source)
        row = self._con.execute(f"SELECT count(*) {from_clause}", params).fetchone()
        assert row is not None  # count(*) answers one row
        return int(row[0])

    # -- the plan --------------------------------------------------------------------------------
    def profile(
        self, reference: ParquetSource, current: ParquetSource, features: Sequence[str] | None = None
    ) -> Profile:
        skip = {reference.timestamp_column, current.timestamp_column}
        return self.compare(self.reference(reference, features, skip=skip), current)

    def reference(
        self, source: ParquetSource, features: Sequence[str] | None = None, *, skip: set[str | None] | None = None
    ) -> ReferenceProfile:
        """The reference's cuts, per-bin statistics and tails (numeric), its counts per value (categorical)."""
        columns = self._columns(source)
        skip = skip or {source.timestamp_column}
        wanted = tuple(features) if features else tuple(c for c in columns if c not in skip)
        present = [f for f in wanted if f in columns]
        numeric = [f for f in present if _base_type(columns[f]) in NUMERIC_TYPES]
        categorical = [f for f in present if _base_type(columns[f]) in CATEGORICAL_TYPES]
        rows = self._rows(source)
        integers = {f for f in numeric if _base_type(columns[f]) in INTEGER_TYPES}

        def profile(feature: str, ordered: np.ndarray) -> NumericReference:
            cuts = choose_cuts(ordered, self._fine_bins, integer=feature in integers)
            found = profile_column(ordered, rows, cuts)
            return NumericReference(cuts, found.counts, found.summary, found.bins, found.tails)

        numeric_reference, categories = self._each_sorted_column(
            source, numeric, columns, rows, profile, meanwhile=lambda: self._category_counts(categorical, source)
        )
        categorical_reference = {}
        for feature, found in zip(categorical, categories, strict=True):
            missing = found.pop(None, 0)
            categorical_reference[feature] = CategoricalReference({str(k): v for k, v in found.items()}, missing)
        return ReferenceProfile(columns, rows, numeric_reference, categorical_reference, wanted, source)

    def compare(self, reference: ReferenceProfile, current: ParquetSource) -> Profile:
        """The current side counted on the reference's cuts: its numeric columns sorted, its categories counted."""
        cur_columns = self._columns(current)
        plan = plan_features(
            reference,
            cur_columns,
            current.timestamp_column,
            counts_as_numeric=lambda kind: _base_type(kind) in NUMERIC_TYPES,
            counts_as_categorical=lambda kind: True,  # anything casts to VARCHAR
        )
        numeric, categorical = plan.numeric, plan.categorical
        cur_rows = self._rows(current)

        def profile(feature: str, ordered: np.ndarray) -> NumericHistogram:
            ref = reference.numeric[feature]
            found = profile_column(ordered, cur_rows, ref.cuts)
            histogram = NumericHistogram(
                feature,
                ref.cuts,
                ref.counts,
                found.counts,
                ref.summary,
                found.summary,
                reference_bins=ref.bins,
                current_bins=found.bins,
                reference_tails=ref.tails,
                current_tails=found.tails,
            )
            if all(histogram.present):
                _ = histogram.first_pass  # its bounds, here in a sorting thread, while the next group is read
            return histogram

        counted, categories = self._each_sorted_column(
            current,
            numeric,
            cur_columns,
            cur_rows,
            profile,
            meanwhile=lambda: self._category_counts(categorical, current),
        )
        histograms: list[NumericHistogram | CategoricalHistogram] = [counted[f] for f in numeric]
        for feature, found in zip(categorical, categories, strict=True):
            histograms.append(categorical_histogram(feature, reference, found, cur_rows, self._category_cap))
        return finish_profile(
            plan, histograms, reference, cur_rows, read=self.value_counts, current=current, own_source=ParquetSource
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

    def _each_sorted_column(
        self,
        source: ParquetSource,
        features: Sequence[str],
        columns: Mapping[str, str],
        rows: int,
        profile: Callable[[str, np.ndarray], T],
        *,
        meanwhile: Callable[[], R],
    ) -> tuple[dict[str, T], R]:
        """`profile(feature, its finite values sorted)` for every feature, a few columns per query, and
        what `meanwhile()` returns: it runs once the last group is fetched, while that group sorts (the
        categorical counts: DuckDB would sit idle there, and the sorting threads after it).

        DuckDB reads and filters (the window, NaN and +-inf to NULL); numpy sorts. Columns are fetched
        in groups of at most COLUMN_BUDGET values, so memory stays bounded whatever the row count, and
        sorted on as many threads as there are cores (numpy sorts without the GIL).
        """
        found: dict[str, T] = {}
        if not features:
            return found, meanwhile()
        group = max(1, COLUMN_BUDGET // max(rows, 1))
        native = {f for f in features if _base_type(columns[f]) in ("FLOAT", "DOUBLE", *INTEGER_TYPES)}

        def one(item: tuple[str, Any]) -> tuple[str, T]:
            feature, column = item
            # A masked array where the column has NULLs: told by its type, as naming np.ma imports it (20 ms).
            values = column if type(column) is np.ndarray else column.compressed()  # NULLs out
            ordered = np.asarray(values, dtype=np.float64)  # the fetched array itself when it is DOUBLE
            if not ordered.flags.writeable:
                ordered = ordered.copy()
            ordered.sort()  # in place: no second copy of the column
            # NaN and +-inf are missing: sorted, they sit at the ends (-inf first, +inf then NaN last).
            finite = slice(np.searchsorted(ordered, -np.inf, "right"), np.searchsorted(ordered, np.inf, "left"))
            return feature, profile(feature, ordered[finite])

        with ThreadPoolExecutor(max_workers=_threads()) as pool:
            pending: list[Future[tuple[str, T]]] = []
            for start in range(0, len(features), group):
                names = features[start : start + group]
                select = ", ".join(
                    f"{_quote(f) if f in native else _quote(f) + '::DOUBLE'} AS n{i}" for i, f in enumerate(names)
                )
                # Fetched while the previous group sorts (DuckDB and numpy both work without the GIL).
                arrays = self._fetch(source, select)
                found.update(future.result() for future in pending)
                pending = [pool.submit(one, (f, arrays[f"n{i}"])) for i, f in enumerate(names)]
                del arrays
            also = meanwhile()
            found.update(future.result() for future in pending)
        return found, also

    def _fetch(self, source: ParquetSource, select: str) -> dict[str, Any]:
        """`SELECT {select}` over the source's window, as numpy arrays.

        Through a relation where it can: a relation's fetchnumpy streams the result into the arrays, where
        `execute(...).fetchnumpy()` materialized it first, twice the CPU at 1M rows. But a relation's
        fetchnumpy holds the GIL while DuckDB's threads read, and a Python filesystem registered on the
        connection (fsspec: GCS through `GcsParquetFiles`) needs the GIL to read: that deadlocked. With
        one registered, `execute`, which lets go of the GIL, reads.
        """
        if self._con.list_filesystems():
            from_clause, params = self._relation(source)
            return self._con.execute(f"SELECT {select} {from_clause}", params).fetchnumpy()
        return self._windowed(source).select(select).fetchnumpy()

    def _windowed(self, source: ParquetSource) -> duckdb.DuckDBPyRelation:
        """The source's rows inside its window, as a relation (`sql(query, params=...)` materialized the
        result over and over: 10 s at 1M rows; the window is bound as constant expressions instead)."""
        from_clause, _ = self._relation(source, windowed=False)
        relation = self._con.sql(f"SELECT * {from_clause}")
        if source.start or source.end:
            import duckdb

            # Constants bound from the datetimes, as parameters would be (naive: TIMESTAMP, aware: TIMESTAMPTZ).
            column = duckdb.ColumnExpression(_quote(source.timestamp_column or ""))
            if source.start:
                relation = relation.filter(column >= duckdb.ConstantExpression(source.start))
            if source.end:
                relation = relation.filter(column < duckdb.ConstantExpression(source.end))
        return relation

    def _category_counts(self, features: Sequence[str], source: ParquetSource) -> list[dict[str | None, int]]:
        """Counts per value (NULL under None) of each categorical feature: a GROUP BY per feature in one
        UNION ALL (five times faster than DuckDB's `histogram` aggregate over the same columns)."""
        if not features:
            return []
        from_clause, window = self._relation(source)
        branches, params = [], []
        for i, feature in enumerate(features):
            # GROUP BY 2, not by the alias: a column of the file named `v` would win the binding.
            branches.append(f"SELECT {i} AS f, {_quote(feature)}::VARCHAR AS v, count(*) AS n {from_clause} GROUP BY 2")
            params.extend(window)
        found: list[dict[str | None, int]] = [{} for _ in features]
        for f, value, n in self._con.execute(" UNION ALL ".join(branches), params).fetchall():
            found[int(f)][value] = int(n)
        return found


def _top_level_types(schema: Sequence[tuple[Any, ...]]) -> dict[str, set[str]]:
    """Each top-level column's types (by lower-cased name) as DuckDB reads them, file by file, from
    `parquet_schema` rows (file, column id, name, children, DuckDB type) in schema order: the root and the
    fields nested in structs and lists are not columns (a struct's field `x` is not the column `x`), and a
    float16 column is a FLOAT, not its physical FIXED_LEN_BYTE_ARRAY."""
    kinds: dict[str, set[str]] = {}
    open_groups: list[int] = []  # children still to come, per group the walk is in; the root first
    current = None
    for file_name, _, name, children, kind in schema:
        if file_name != current:
            current, open_groups = file_name, [children or 0]  # a file's first row is its root
            continue
        if len(open_groups) == 1:  # a child of the root: a column
            kinds.setdefault(name.lower(), set()).add(str(kind))  # DuckDB binds `X` and `x` as one column
        open_groups[-1] -= 1
        if children:
            open_groups.append(children)
        while open_groups and open_groups[-1] == 0:
            open_groups.pop()
    return kinds


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


T = TypeVar("T")
R = TypeVar("R")


def _threads() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cores))


def _floats(features: Sequence[str], columns: Mapping[str, str]) -> set[str]:
    return {f for f in features if _base_type(columns[f]) in ("FLOAT", "DOUBLE")}


def _base_type(kind: str) -> str:
    """DuckDB's type name without its parameters (`DECIMAL(18,3)` -> `DECIMAL`); a list or array type
    (`FLOAT[]`, `FLOAT[3]`: embeddings) is no number and no category, whatever its element type."""
    return "LIST" if "[" in kind or kind.startswith(("STRUCT", "MAP", "UNION")) else kind.split("(")[0].strip()


def _range_test(name: str, lo: float, hi: float) -> str:
    """`lo < name <= hi` in SQL, exact to the bit, infinite ends left out: scientific notation is read as
    DOUBLE (a plain decimal literal would be read as DECIMAL and converted, maybe an ulp off)."""
    tests = [f"{name} > {lo:.17e}" if math.isfinite(lo) else "", f"{name} <= {hi:.17e}" if math.isfinite(hi) else ""]
    return "(" + (" AND ".join(t for t in tests if t) or "TRUE") + ")"


def _literal_paths(paths: Sequence[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
