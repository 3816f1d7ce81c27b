"""Input features read out of a JSON column: the captured predictions' `features` ({"age": 41, "city": "Lyon"}).

`BigQueryProfiler` compares a reference feature with such a key as with a column of its own:
- the kind comes from the reference's profile: a numeric feature is read `LAX_FLOAT64(features[@key])`
  (a JSON number, or a string that spells one; anything else -- text, true/false, an object, JSON null
  -- counts as missing, as do NaN and +-inf), a categorical one `JSON_VALUE(features[@key])` (the
  scalar as text, `true`/`false` as DuckDB and BigQuery write a BOOL);
- the key is a STRING query parameter of the JSON subscript operator, never SQL or a JSONPath: a name
  with quotes, dots, backslashes or `$` needs no escaping, and cannot change the query;
- a key no row of the window carries is a missing column, as a column absent from Parquet captures.

Names follow the Parquet sink (`shared.adapters.parquet_prediction_sink`), so a reference reads the same
features from either capture: a feature named like one of the table's own columns (`label`, `model`) is
`feature_<name>` there, and here the key `<name>`; the table's columns themselves read as columns.

BigQuery's subscript takes any STRING expression as the key, and matches it as it is. bqemulator (1.4)
runs `features[@p]` (it does not bind a parameter as a JSONPath argument, `JSON_VALUE(features, @p)`),
LAX_FLOAT64 and the one-argument JSON_VALUE, but writes the key into a JSONPath unescaped: a key with
`"`, or an empty one, fails there (tests mark it), and it cannot GROUP BY an expression that holds a
parameter (the profiler groups outside a subquery).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import PermanentError

CAPTURED_FEATURES = "features"  # the JSON column of ml_monitoring.predictions
JSON_NUMBER = "JSON number"  # a numeric reference feature, read from the JSON column
JSON_STRING = "JSON string"  # a categorical one
JSON_OTHER = "JSON value"  # a feature the reference profiled as neither (unsupported on both sides)
PARQUET_RENAMED = "feature_"  # the Parquet sink's prefix for a feature named like a column


def json_key(feature: str, columns: Mapping[str, str], json_column: str) -> str:
    """The key a feature is read from: `feature_label` is the input `label` (the Parquet sink's rule)."""
    if feature.startswith(PARQUET_RENAMED):
        name = feature[len(PARQUET_RENAMED) :]
        if name in columns and name != json_column:
            return name
    return feature


def quote_identifier(name: str) -> str:
    """A column name backquoted; the characters that could escape it are refused (as the profiler's)."""
    if not name or any(c in name for c in "`\\") or not name.isprintable():
        raise PermanentError(f"column name {name!r:.80} cannot be quoted safely")
    return f"`{name}`"


@dataclass(frozen=True)
class JsonFeatures:
    """The features a table lacks as columns, read from its JSON column instead."""

    column: str
    keys: dict[str, str]  # feature -> its key in the JSON object

    @classmethod
    def of(cls, columns: Mapping[str, str], json_column: str, features: Iterable[str]) -> JsonFeatures | None:
        """None when the table has no such JSON column (then nothing is read from it)."""
        if columns.get(json_column) != "JSON":
            return None
        keys = {f: json_key(f, columns, json_column) for f in features if f not in columns or f == json_column}
        return cls(json_column, keys)

    def columns(self, columns: Mapping[str, str], kinds: Mapping[str, str]) -> dict[str, str]:
        """The table's columns (the JSON column itself no feature) with each key as a column of `kinds`."""
        found = {name: kind for name, kind in columns.items() if name != self.column}
        found.update({f: kinds.get(f, JSON_OTHER) for f in self.keys})
        return found

    def _key(self, feature: str, params: list[Any]) -> str:
        """`column[@key_n]`, the key appended to `params` (n: its place there, so names never repeat)."""
        from google.cloud import bigquery

        name = f"key_{len(params)}"
        params.append(bigquery.ScalarQueryParameter(name, "STRING", self.keys[feature]))
        return f"{quote_identifier(self.column)}[@{name}]"

    def number(self, feature: str, params: list[Any]) -> str:
        """The value as FLOAT64, NULL where it is no finite number."""
        value = f"LAX_FLOAT64({self._key(feature, params)})"  # one parameter, three uses
        return f"IF(IS_NAN({value}) OR IS_INF({value}), NULL, {value})"

    def text(self, feature: str, params: list[Any]) -> str:
        """The scalar as STRING (NULL for JSON null, an object, an array, or no key)."""
        return f"JSON_VALUE({self._key(feature, params)})"

    def carried(self, feature: str, params: list[Any]) -> str:
        """TRUE where the row has the key (even as JSON null): whether the captures carry the feature."""
        return f"{self._key(feature, params)} IS NOT NULL"
