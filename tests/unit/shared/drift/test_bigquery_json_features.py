"""The SQL that reads a feature out of the captured predictions' JSON column: the name only ever travels as a
query parameter, whatever it holds; the key follows the Parquet sink's names."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.drift.engines.bigquery_json_features import (
    JSON_NUMBER,
    JSON_OTHER,
    JSON_STRING,
    JsonFeatures,
    json_key,
    quote_identifier,
)
from shared.errors import PermanentError

COLUMNS = {"served_at": "TIMESTAMP", "model": "STRING", "label": "STRING", "prediction": "FLOAT64", "features": "JSON"}
# What the expressions may look like: the JSON column, parameter names, and fixed SQL; no name of a feature.
_NUMBER = re.compile(
    r"^IF\(IS_NAN\(LAX_FLOAT64\(`features`\[@key_\d+\]\)\) OR IS_INF\(LAX_FLOAT64\(`features`\[@key_\d+\]\)\),"
    r" NULL, LAX_FLOAT64\(`features`\[@key_\d+\]\)\)$"
)
_TEXT = re.compile(r"^JSON_VALUE\(`features`\[@key_\d+\]\)$")
_CARRIED = re.compile(r"^`features`\[@key_\d+\] IS NOT NULL$")

HOSTILE = ['q"x', "a.b", "b\\s", "s'q", "$.x", "`drop`", "x') OR TRUE --", "", " ", "\n", "@key_0", "été", "a\x00b"]


def test_a_feature_named_like_a_column_is_read_from_the_key_the_parquet_sink_renamed() -> None:
    # GIVEN the Parquet sink's rule: an input `label` is the column `feature_label` there
    # THEN the same name reads the key `label` here; a plain name reads its own key; the JSON column is no feature
    assert json_key("feature_label", COLUMNS, "features") == "label"
    assert json_key("feature_model", COLUMNS, "features") == "model"
    assert json_key("feature_age", COLUMNS, "features") == "feature_age"
    assert json_key("feature_features", COLUMNS, "features") == "feature_features"
    assert json_key("age", COLUMNS, "features") == "age"


def test_only_features_the_table_lacks_are_read_from_json() -> None:
    json = JsonFeatures.of(COLUMNS, "features", ["prediction", "age", "feature_label", "features", "city"])
    assert json is not None
    assert json.keys == {"age": "age", "feature_label": "label", "features": "features", "city": "city"}
    columns = json.columns(COLUMNS, {"age": JSON_NUMBER, "city": JSON_STRING})
    assert columns["prediction"] == "FLOAT64" and columns["age"] == JSON_NUMBER and columns["city"] == JSON_STRING
    assert columns["features"] == columns["feature_label"] == JSON_OTHER  # kinds not given: neither
    assert columns["features"] != "JSON"  # the feature named `features`, not the JSON column itself


def test_no_json_column_reads_nothing() -> None:
    assert JsonFeatures.of({"features": "STRING", "x": "INT64"}, "features", ["age"]) is None
    assert JsonFeatures.of({"x": "INT64"}, "features", ["age"]) is None


@settings(deadline=None)
@given(st.lists(st.one_of(st.sampled_from(HOSTILE), st.text()), min_size=1, max_size=5, unique=True))
def test_a_name_is_a_parameter_never_sql(names: list[str]) -> None:
    # GIVEN any names, the hostile ones included
    json = JsonFeatures.of(COLUMNS, "features", names)
    assert json is not None
    params: list[Any] = []
    # WHEN each is read as a number, a category and a presence test
    sql = [
        (json.number(name, params), json.text(name, params), json.carried(name, params))
        for name in names
        if name in json.keys
    ]
    # THEN the SQL is fixed text around parameter names, and the parameters hold the keys as they are
    for number, text, carried in sql:
        assert _NUMBER.match(number) and _TEXT.match(text) and _CARRIED.match(carried)
    assert len({p.name for p in params}) == len(params)  # every parameter its own name
    assert all(p.type_ == "STRING" for p in params)
    assert {p.value for p in params} == {json.keys[n] for n in names if n in json.keys}


def test_a_number_is_one_parameter_used_three_times() -> None:
    json = JsonFeatures.of(COLUMNS, "features", ['q"x'])
    assert json is not None
    params: list[Any] = []
    number = json.number('q"x', params)
    assert [(p.name, p.value) for p in params] == [("key_0", 'q"x')]
    assert number.count("@key_0") == 3


@pytest.mark.parametrize("name", ["", "a`b", "a\\b", "a\nb"])
def test_a_json_column_name_that_cannot_be_quoted_is_refused(name: str) -> None:
    with pytest.raises(PermanentError):
        quote_identifier(name)
