"""Feature histograms from a BigQuery table, computed in BigQuery: only aggregates come back.

The same plan and the same dataclasses as `DuckDbProfiler`, pushed down to the warehouse, so the
function's memory is O(features x bins) whatever the row count:
1. reference, one query: per numeric feature `APPROX_QUANTILES(x, fine_bins)` (fine_bins + 1 values,
   min and max included: the ends are dropped, the rest deduplicated), COUNT, MIN, MAX, AVG,
   STDDEV_POP, and the table's COUNT(*). The discrete rules are DuckDB's: an INT64 over a short range
   is cut at every integer; a feature whose quantiles repeat is cut at every distinct value (one more
   query, `SELECT DISTINCT ... LIMIT fine_bins + 1` per such feature, all in one UNION ALL);
2. both sides, one query: every numeric feature counted on its cuts, with its summary, as
   `GROUP BY GROUPING SETS ((f, b), (f))` over a UNION ALL of one (f, value, bucket) projection per
   feature; one more query for the categorical features, a `GROUP BY` per feature in a UNION ALL.

Captured predictions (`TableSource.json_features`: the current side of `"captured": true`) keep the input
features in one JSON column: a reference feature the table lacks is read from its key there, as a number
or a category as the reference profiled it (`bigquery_json_features`, the key a query parameter), in the
same queries as the columns; each branch also counts the rows that hold the key (`COUNTIF(k)`), and a
key no row of the window holds is a missing column, as with Parquet captures.

Bins are (-inf, c_1], (c_1, c_2], ..., (c_k, +inf): a value's bin is the number of cuts strictly below
it. `RANGE_BUCKET(x, cuts)` counts the cuts <= x (a value equal to a cut would land one bin too
high), so we ask it about -x on the negated cuts, sorted: `RANGE_BUCKET(-x, sorted(-c))` counts the
cuts >= x, and the bin is k minus that. Negation is exact, so no tie correction is needed and each
row costs one binary search. Cuts travel as ARRAY<FLOAT64> query parameters (JSON numbers written
with Python's shortest round-trip repr: exact); the time window is parameters too; column names are
checked against the table's schema and backquoted; the table id matches a strict pattern.

bqemulator (1.4, SQL translated to DuckDB) runs every query here: APPROX_QUANTILES, RANGE_BUCKET with
an array parameter, IS_NAN, STDDEV_POP, GROUPING SETS with GROUPING(), UNION ALL of subqueries with
ORDER BY/LIMIT. What it does not run, and why this module does not use it:
- a correlated `FROM t, UNNEST([STRUCT(0 AS f, x0 AS v), ...])` (one-scan unpivot): "Referenced
  table not found" -- hence a UNION ALL of one projection per feature, each branch reading its own
  column (and the window's), which real BigQuery runs as well;
- `ARRAY_AGG(STRUCT(b, n))` over `GROUP BY b` when b is RANGE_BUCKET of a parameter (GROUP BY the
  alias fails to bind), a WITH clause read twice with an UNNEST, and a CROSS JOIN of two aggregate
  subqueries (500): hence one long result of (feature, bucket) rows, O(features x bins);
- `GROUP BY` an expression that holds a query parameter (`JSON_VALUE(features[@key])`): the binder
  fails, so a JSON category is read in a subquery and grouped outside it; and a subscript key holding
  `"` (or an empty key): bqemulator writes it into a JSONPath unescaped and fails, where BigQuery takes
  the key as it is.

Over the ~400 lines a runtime module keeps to, on purpose: one profiler whose queries are one plan
(the reference's cuts feed both sides' bucketing, the discrete rules are shared with DuckDB's);
split, each query would need the others' parameters and column checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.adapters.bigquery_statements import run_query
from shared.adapters.gcp_errors import translate_errors
from shared.drift.column_profile import EXACT_INTEGERS
from shared.drift.comparison import categorical_histogram, finish_profile, plan_features
from shared.drift.engines.bigquery_json_features import JSON_NUMBER, JSON_OTHER, JSON_STRING, JsonFeatures
from shared.drift.engines.duckdb_parquet import DEFAULT_CATEGORY_CAP, DEFAULT_FINE_BINS
from shared.drift.histograms import (
    BinStats,
    BinValues,
    CategoricalHistogram,
    NumericHistogram,
    SideSummary,
    moments_origin,
    moments_scale,
    summary_from_moments,
)
from shared.drift.profiles import CategoricalReference, NumericReference, Profile, ReferenceProfile, register_source
from shared.errors import EventParseError, PermanentError

if TYPE_CHECKING:
    from google.cloud import bigquery

    from shared.drift.refine import Ranges

NUMERIC_TYPES = frozenset({"INT64", "NUMERIC", "BIGNUMERIC", "FLOAT64"})
CATEGORICAL_TYPES = frozenset({"STRING", "BOOL"})
# What a categorical reference can still be counted against in the current table: CAST(x AS STRING) works.
_CASTS_TO_STRING = NUMERIC_TYPES | CATEGORICAL_TYPES | {"DATE", "DATETIME", "TIME", "TIMESTAMP"}
_WINDOW_TYPES = frozenset({"TIMESTAMP", "DATETIME"})
# The schema API still answers with legacy SQL names for tables created through it.
_STANDARD_NAMES = {
    "INTEGER": "INT64",
    "FLOAT": "FLOAT64",
    "BOOLEAN": "BOOL",
    "RECORD": "STRUCT",
    "DECIMAL": "NUMERIC",
    "BIGDECIMAL": "BIGNUMERIC",
}
DEFAULT_TIMEOUT_S = 120.0

# project (optionally domain-scoped) . dataset . table; nothing that could close a backquote.
_TABLE_ID = re.compile(
    r"^(?:[a-z][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_-]{1,1024}$"
)


@dataclass(frozen=True)
class TableSource:
    """A BigQuery table and an optional window on a TIMESTAMP or DATETIME column."""

    table: str  # project.dataset.table
    timestamp_column: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    model: str | None = None  # only the rows of this `model` (the captured predictions' table)
    # The JSON column a current side's features are read from when the table lacks them as columns
    # (the captured predictions' `features`: `shared.drift.engines.bigquery_json_features`).
    json_features: str | None = None

    def __post_init__(self) -> None:
        if not _TABLE_ID.match(self.table):
            raise PermanentError(f"{self.table!r:.120} is not a BigQuery table id (project.dataset.table)")
        if (self.start or self.end) and not self.timestamp_column:
            raise PermanentError("a time window needs the timestamp column it applies to")

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": "bigquery",
            "table": self.table,
            "timestamp_column": self.timestamp_column,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "model": self.model,
            "json_features": self.json_features,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TableSource:
        start, end = (datetime.fromisoformat(data[k]) if data.get(k) else None for k in ("start", "end"))
        return cls(
            data["table"], data.get("timestamp_column"), start, end, data.get("model"), data.get("json_features")
        )


register_source("bigquery", TableSource.from_json)


def _type_name(field: Any) -> str:
    kind = _STANDARD_NAMES.get(field.field_type, field.field_type)
    return f"ARRAY<{kind}>" if field.mode == "REPEATED" else kind


def _quote(name: str) -> str:
    """A column name known to the schema, backquoted. Flexible column names may hold almost anything;
    the few characters that could escape a quoted identifier are refused rather than escaped."""
    if not name or any(c in name for c in "`\\") or not name.isprintable():
        raise PermanentError(f"column name {name!r:.80} cannot be quoted safely")
    return f"`{name}`"


class BigQueryProfiler:
    def __init__(
        self,
        client: bigquery.Client,
        *,
        fine_bins: int = DEFAULT_FINE_BINS,
        category_cap: int = DEFAULT_CATEGORY_CAP,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if isinstance(fine_bins, bool) or not isinstance(fine_bins, int) or not 2 <= fine_bins <= 100_000:
            raise ValueError("fine_bins must be an integer in [2, 100000]")  # it is written into the SQL
        self._client = client
        self._fine_bins = fine_bins
        self._category_cap = category_cap
        self._timeout_s = timeout_s

    @property
    def settings(self) -> dict[str, int]:
        """What shapes a reference profile, so that a cached one is only reused under the same settings."""
        return {"fine_bins": self._fine_bins, "category_cap": self._category_cap}

    # -- reading ---------------------------------------------------------------------------------
    def _columns(self, source: TableSource) -> dict[str, str]:
        """The table's columns (name -> standard SQL type); a missing table is a permanent error."""
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        retry = bigquery.DEFAULT_RETRY.with_deadline(self._timeout_s)
        with translate_errors(f"read the schema of {source.table}"):
            try:
                table = self._client.get_table(source.table, retry=retry, timeout=self._timeout_s)
            except NotFound:
                raise EventParseError(f"no BigQuery table {source.table}", field="uri") from None
        columns = {field.name: _type_name(field) for field in table.schema}
        if source.start or source.end:
            kind = columns.get(source.timestamp_column or "")
            if kind is None:
                raise EventParseError(
                    f"{source.table} has no column {source.timestamp_column!r:.80}", field="timestamp_column"
                )
            if kind not in _WINDOW_TYPES:
                raise EventParseError(
                    f"{source.timestamp_column!r:.80} is {kind}, not TIMESTAMP or DATETIME", field="timestamp_column"
                )
        return columns

    def _relation(self, source: TableSource, columns: Mapping[str, str]) -> tuple[str, list[Any]]:
        """A FROM ... WHERE ... clause over the source, with its parameters (the window is never in the SQL)."""
        from google.cloud import bigquery

        where, params = [], []
        for name, bound, op in (("window_start", source.start, ">="), ("window_end", source.end, "<")):
            if bound is None:
                continue
            kind = columns[source.timestamp_column or ""]
            if kind == "DATETIME" and bound.tzinfo is not None:  # a civil time column: compare in UTC
                bound = bound.astimezone(UTC).replace(tzinfo=None)
            where.append(f"{_quote(source.timestamp_column or '')} {op} @{name}")
            params.append(bigquery.ScalarQueryParameter(name, kind, bound))
        if source.model is not None:
            where.append("`model` = @only_model")
            params.append(bigquery.ScalarQueryParameter("only_model", "STRING", source.model))
        return f"FROM `{source.table}`" + (f" WHERE {' AND '.join(where)}" if where else ""), params

    def _query(self, sql: str, params: Sequence[Any], *, what: str) -> list[Any]:
        """Run one query, failing within about `timeout_s`; the result is aggregates, never rows of data.

        No job retry: it wraps jobs.insert in a 10-minute loop that ignores its own deadline, and the
        platform's redelivery is the retry loop.
        """
        from google.api_core.exceptions import NotFound

        try:
            return run_query(self._client, sql, params, timeout_s=self._timeout_s, what=what)[1]
        except NotFound as exc:  # dropped since its schema was read
            raise PermanentError(f"{what}: {exc}") from None

    # -- the plan --------------------------------------------------------------------------------
    def profile(self, reference: TableSource, current: TableSource, features: Sequence[str] | None = None) -> Profile:
        skip = {reference.timestamp_column, current.timestamp_column}
        return self.compare(self.reference(reference, features, skip=skip), current)

    def reference(
        self, source: TableSource, features: Sequence[str] | None = None, *, skip: set[str | None] | None = None
    ) -> ReferenceProfile:
        """Cuts and summaries, then counts on the cuts (and the distinct values of discrete features between)."""
        columns = self._columns(source)
        skip = skip or {source.timestamp_column}
        wanted = tuple(features) if features else tuple(c for c in columns if c not in skip)
        present = [f for f in wanted if f in columns]
        numeric = [f for f in present if columns[f] in NUMERIC_TYPES]
        categorical = [f for f in present if columns[f] in CATEGORICAL_TYPES]
        rows, cuts, spans = self._reference_pass(numeric, columns, source)
        numeric_reference: dict[str, NumericReference] = {}
        if numeric:
            scales = [moments_scale(span) for span in spans]
            counts, summaries, _, stats, _ = self._counting_pass(numeric, columns, cuts, source, scales=scales)
            numeric_reference = {
                f: NumericReference(cuts[i], counts[i], summaries[i], stats[i]) for i, f in enumerate(numeric)
            }
        categorical_reference = {}
        for feature, found in zip(categorical, self._category_counts(categorical, columns, source)[0], strict=True):
            missing = found.pop(None, 0)
            categorical_reference[feature] = CategoricalReference({str(k): v for k, v in found.items()}, missing)
        return ReferenceProfile(columns, rows, numeric_reference, categorical_reference, wanted, source)

    def compare(self, reference: ReferenceProfile, current: TableSource) -> Profile:
        """One query for the numeric features of the current window, one for the categorical ones.

        Which features are compared, missing or unsupported follows `DuckDbProfiler.compare`.
        """
        cur_columns = self._columns(current)
        json = None
        if current.json_features:  # captured predictions: the features the table lacks are JSON keys
            json = JsonFeatures.of(cur_columns, current.json_features, reference.features)
        if json is not None:
            cur_columns = json.columns(cur_columns, {f: _json_kind(reference, f) for f in json.keys})
        plan = plan_features(
            reference,
            cur_columns,
            current.timestamp_column,
            counts_as_numeric=lambda kind: kind in NUMERIC_TYPES or kind == JSON_NUMBER,
            counts_as_categorical=lambda kind: kind in _CASTS_TO_STRING or kind == JSON_STRING,
        )
        numeric, categorical = plan.numeric, plan.categorical
        histograms: list[NumericHistogram | CategoricalHistogram] = []
        cur_rows = None
        carried: dict[str, int] = {}  # rows that hold each feature's key (JSON features only)
        if numeric:
            cuts = [reference.numeric[f].cuts for f in numeric]
            counts, summaries, cur_rows, stats, held = self._counting_pass(numeric, cur_columns, cuts, current, json)
            carried.update(zip(numeric, held, strict=True))
            for i, f in enumerate(numeric):
                ref = reference.numeric[f]
                histograms.append(
                    NumericHistogram(
                        f,
                        ref.cuts,
                        ref.counts,
                        counts[i],
                        ref.summary,
                        summaries[i],
                        reference_bins=ref.bins,
                        current_bins=stats[i],
                        reference_tails=ref.tails,
                    )
                )
        if categorical:
            found, held = self._category_counts(categorical, cur_columns, current, json)
            carried.update(zip(categorical, held, strict=True))
            # Every row is in exactly one group of each feature (NULL included): no COUNT(*) query needed.
            cur_rows = sum(found[0].values()) if cur_rows is None else cur_rows
            for feature, cur in zip(categorical, found, strict=True):
                histograms.append(categorical_histogram(feature, reference, cur, cur_rows, self._category_cap))
        if cur_rows is None:
            from_clause, params = self._relation(current, cur_columns)
            [row] = self._query(f"SELECT COUNT(*) {from_clause}", params, what=f"count rows of {current.table}")
            cur_rows = int(row[0])
        if json is not None and cur_rows:  # a key no row of the window holds: the column is missing
            absent = {f for f in json.keys if carried.get(f) == 0}
            histograms = [h for h in histograms if h.feature not in absent]
            plan = replace(
                plan,
                missing={**plan.missing, **dict.fromkeys(sorted(absent), "current")},
                numeric=[f for f in numeric if f not in absent],
                categorical=[f for f in categorical if f not in absent],
            )
        return finish_profile(
            plan, histograms, reference, cur_rows, read=self.value_counts, current=current, own_source=TableSource
        )

    def value_counts(self, source: TableSource, requests: Mapping[str, Ranges]) -> dict[str, BinValues]:
        """Each feature's present values inside its (lo, hi] ranges, per distinct value with counts, in
        one query (a UNION ALL of one branch per feature, as `_counting_pass`); bounds are parameters."""
        from google.cloud import bigquery

        if not requests:
            return {}
        columns = self._columns(source)
        json = JsonFeatures.of(columns, source.json_features, requests) if source.json_features else None
        if json is not None:  # only numeric features have a second pass
            columns = json.columns(columns, dict.fromkeys(json.keys, JSON_NUMBER))
        names = [f for f in requests if f in columns]
        from_clause, params = self._relation(source, columns)
        branches = []
        for i, feature in enumerate(names):
            tests = []
            for j, (lo, hi) in enumerate(requests[feature]):
                bounds = []
                for name, bound, op in ((f"lo_{i}_{j}", lo, ">"), (f"hi_{i}_{j}", hi, "<=")):
                    if math.isfinite(bound):
                        params.append(bigquery.ScalarQueryParameter(name, "FLOAT64", float(bound)))
                        bounds.append(f"v {op} @{name}")
                tests.append("(" + (" AND ".join(bounds) or "TRUE") + ")")
            branches.append(
                f"SELECT {i} AS f, v FROM (SELECT {self._value(feature, columns, params, json)} AS v {from_clause})"
                f" WHERE v IS NOT NULL AND ({' OR '.join(tests) or 'FALSE'})"
            )
        sql = f"SELECT f, v, COUNT(*) AS n FROM ({' UNION ALL '.join(branches)}) GROUP BY f, v ORDER BY f, v"
        found: dict[int, tuple[list[float], list[int]]] = {i: ([], []) for i in range(len(names))}
        for row in self._query(sql, params, what=f"read values of {source.table} in uncertain bins"):
            values, counts = found[int(row[0])]
            values.append(float(row[1]))
            counts.append(int(row[2]))
        return {
            f: BinValues(np.asarray(found[i][0], dtype=np.float64), np.asarray(found[i][1], dtype=np.int64))
            for i, f in enumerate(names)
        }

    # -- the queries -----------------------------------------------------------------------------
    @staticmethod
    def _value(
        feature: str, columns: Mapping[str, str], params: list[Any] | None = None, json: JsonFeatures | None = None
    ) -> str:
        """The feature as FLOAT64 with NaN and +-inf read as missing (as `DuckDbProfiler._value`); a JSON
        feature's key joins `params`."""
        if json is not None and feature in json.keys and params is not None:
            return json.number(feature, params)
        column = _quote(feature)
        if columns[feature] == "FLOAT64":
            return f"IF(IS_NAN({column}) OR IS_INF({column}), NULL, {column})"
        return f"CAST({column} AS FLOAT64)"

    def _reference_pass(
        self, features: Sequence[str], columns: Mapping[str, str], source: TableSource
    ) -> tuple[int, list[tuple[float, ...]], list[float]]:
        """One query: the row count, the quantile cuts of every numeric feature, and how far its values reach
        from the cuts' origin (what its moments are scaled by, `moments_scale`).

        Cuts are approximate reference quantiles: their exact place does not matter, as both sides are
        then counted exactly on the same cuts. A feature whose quantiles repeat is discrete: it is cut at
        every distinct value instead (a cut after each value but the largest), which makes KS exact for it.
        The summaries come with the counts (`_counting_pass`), as moments about a cut.
        """
        from_clause, params = self._relation(source, columns)
        parts = ["COUNT(*)"]
        for f in features:
            value = self._value(f, columns)
            parts.append(f"APPROX_QUANTILES({value}, {self._fine_bins}), MIN({value}), MAX({value})")
        [row] = self._query(f"SELECT {', '.join(parts)} {from_clause}", params, what=f"profile {source.table}")
        rows = int(row[0])
        cuts: list[tuple[float, ...]] = []
        discrete = []
        ends: list[tuple[float, float]] = []
        for i, feature in enumerate(features):
            quantiles = [float(q) for q in (row[1 + 3 * i] or []) if q is not None]
            quantiles = sorted(set(quantiles[1:-1]))  # the ends are the minimum and the maximum
            low, high = row[2 + 3 * i], row[3 + 3 * i]
            ends.append((float(low or 0.0), float(high or 0.0)))
            if (
                columns[feature] == "INT64"
                and low is not None
                and high is not None
                and high - low < self._fine_bins
                and max(abs(low), abs(high)) <= EXACT_INTEGERS
            ):
                # Integers over a short range: cut at every integer, with no extra query.
                quantiles = [float(v) for v in range(int(low), int(high))]
            elif len(quantiles) < self._fine_bins - 1:  # quantiles repeat: maybe few distinct values
                discrete.append(i)
            cuts.append(tuple(quantiles))
        if discrete:
            distinct = self._distinct_values([features[i] for i in discrete], columns, source)
            for i, found in zip(discrete, distinct, strict=True):
                if len(found) <= self._fine_bins:
                    cuts[i] = tuple(found[:-1])
        origins = [moments_origin(c) for c in cuts]
        spans = [max(abs(low - o), abs(high - o)) for o, (low, high) in zip(origins, ends, strict=True)]
        return rows, cuts, spans

    def _distinct_values(
        self, features: Sequence[str], columns: Mapping[str, str], source: TableSource
    ) -> list[list[float]]:
        """Up to fine_bins + 1 smallest distinct values of each feature, in one query."""
        from_clause, params = self._relation(source, columns)
        branches = [
            f"SELECT {i} AS f, v FROM (SELECT DISTINCT v FROM (SELECT {self._value(f, columns)} AS v {from_clause})"
            f" WHERE v IS NOT NULL ORDER BY v LIMIT {self._fine_bins + 1})"
            for i, f in enumerate(features)
        ]
        found: list[list[float]] = [[] for _ in features]
        for row in self._query(" UNION ALL ".join(branches), params, what=f"distinct values in {source.table}"):
            found[int(row[0])].append(float(row[1]))
        return [sorted(values) for values in found]

    def _counting_pass(
        self,
        features: Sequence[str],
        columns: Mapping[str, str],
        cuts: Sequence[tuple[float, ...]],
        source: TableSource,
        json: JsonFeatures | None = None,
        *,
        scales: Sequence[float] | None = None,
    ) -> tuple[list[tuple[int, ...]], list[SideSummary], int, list[BinStats], list[int]]:
        """One query: every numeric feature counted on its cuts, with its per-bin sums and extremes
        (`BinStats`) and its summary, the row count, and the rows that hold each feature (JSON keys).

        `scales`: the reference's, from its own reach (`_reference_pass`), so that its std is exact at any
        magnitude. The current side's moments are not scaled (1.0): only the reference's std divides W,
        and a scale taken from the reference could overflow on a current that moved far from it (BigQuery
        fails the query on a float overflow)."""
        scales = list(scales) if scales is not None else [1.0] * len(features)
        from google.cloud import bigquery

        from_clause, params = self._relation(source, columns)
        keyed = json is not None and any(f in json.keys for f in features)
        branches = []
        for i, (feature, feature_cuts) in enumerate(zip(features, cuts, strict=True)):
            # Negated and sorted: RANGE_BUCKET(-x, ...) counts the cuts >= x (see the module docstring).
            params.append(bigquery.ArrayQueryParameter(f"cuts_{i}", "FLOAT64", sorted(-c for c in feature_cuts)))
            params.append(bigquery.ScalarQueryParameter(f"origin_{i}", "FLOAT64", moments_origin(feature_cuts)))
            params.append(bigquery.ScalarQueryParameter(f"scale_{i}", "FLOAT64", scales[i]))
            inner, k = f"{self._value(feature, columns, params, json)} AS v", ""
            if keyed:  # does the row hold the key (a plain column: always)
                inner += f", {json.carried(feature, params) if json and feature in json.keys else 'TRUE'} AS k"
                k = ", k"
            branches.append(
                f"SELECT {i} AS f, v, v - @origin_{i} AS d, (v - @origin_{i}) * @scale_{i} AS ds,"
                f" RANGE_BUCKET(-v, @cuts_{i}) AS b{k}"
                f" FROM (SELECT {inner} {from_clause})"
            )
        # Moments about a cut, not STDDEV_POP: see `moments_origin`; scaled where squares are unsafe (`scales`).
        sql = (
            "SELECT f, b, GROUPING(b) AS whole, COUNT(*) AS n, COUNT(v) AS present, MIN(v), MAX(v), AVG(ds),"
            f" AVG(ds * ds), SUM(d){', COUNTIF(k)' if keyed else ''}"
            f" FROM ({' UNION ALL '.join(branches)}) GROUP BY GROUPING SETS ((f, b), (f))"
        )
        counts = [[0] * (len(c) + 1) for c in cuts]
        stats = [
            BinStats(moments_origin(c), np.zeros(len(c) + 1), np.full(len(c) + 1, np.nan), np.full(len(c) + 1, np.nan))
            for c in cuts
        ]
        found: dict[int, tuple[Any, ...]] = {}
        held: dict[int, int] = {}
        for row in self._query(sql, params, what=f"count {source.table} on the reference cuts"):
            f, b, whole, n = int(row[0]), row[1], row[2], int(row[3])
            if whole:
                found[f] = (n, *row[4:9])
                held[f] = int(row[10]) if keyed else n
            elif b is not None:  # b is NULL for the missing values, counted apart
                index = len(cuts[f]) - int(b)
                counts[f][index] += n
                stats[f].sums[index] = float(row[9])
                stats[f].minimum[index], stats[f].maximum[index] = float(row[5]), float(row[6])
        rows = found[0][0] if found else 0  # no group at all: an empty window
        nothing = (rows, 0, None, None, None, None)
        summaries = [
            _summary(rows, moments_origin(cuts[f]), scales[f], *found.get(f, nothing)[1:]) for f in range(len(features))
        ]
        carried = [held.get(f, 0) for f in range(len(features))]
        return [tuple(c) for c in counts], summaries, rows, stats, carried

    def _category_counts(
        self, features: Sequence[str], columns: Mapping[str, str], source: TableSource, json: JsonFeatures | None = None
    ) -> tuple[list[dict[str | None, int]], list[int]]:
        """Counts per value (NULL as None) of each categorical feature, in one query, and the rows that
        hold each feature (a JSON key: the rows that have it; a column: every row)."""
        if not features:
            return [], []
        from_clause, params = self._relation(source, columns)
        keyed = json is not None and any(f in json.keys for f in features)
        branches = []
        for i, f in enumerate(features):
            if json is not None and f in json.keys:
                # Read in a subquery: bqemulator cannot GROUP BY an expression holding a parameter.
                inner = f"SELECT {json.text(f, params)} AS v, {json.carried(f, params)} AS k {from_clause}"
                branches.append(f"SELECT {i} AS f, v, COUNT(*) AS n, COUNTIF(k) FROM ({inner}) GROUP BY 2")
                continue
            k = ", COUNT(*)" if keyed else ""
            value = f"CAST({_quote(f)} AS STRING)"
            branches.append(f"SELECT {i} AS f, {value} AS v, COUNT(*) AS n{k} {from_clause} GROUP BY 2")
        found: list[dict[str | None, int]] = [{} for _ in features]
        held = [0] * len(features)
        for row in self._query(" UNION ALL ".join(branches), params, what=f"count categories in {source.table}"):
            found[int(row[0])][row[1]] = int(row[2])
            held[int(row[0])] += int(row[3]) if keyed else int(row[2])
        return found, held


def _json_kind(reference: ReferenceProfile, feature: str) -> str:
    """How a JSON feature is read: as the reference profiled it (a number, a category, or neither)."""
    if feature in reference.numeric:
        return JSON_NUMBER
    return JSON_STRING if feature in reference.categorical else JSON_OTHER


def _summary(rows: int, origin: float, scale: float, present: Any, *values: Any) -> SideSummary:
    """SideSummary from COUNT(x), MIN, MAX and the first two moments of (x - origin) * scale."""
    low, high, first, second = (None if v is None else float(v) for v in values)
    return summary_from_moments(rows, int(present), low, high, origin, first, second, scale)
