"""The quality gate's parsers (metrics.json, the manifest's policy) and its comparison rule."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import ConfigError, EventParseError
from shared.payloads.model_metrics import MAX_METRICS_BYTES, parse_metrics
from shared.quality_gate import DEFAULT_POLICY, POLICY_VARIABLE, Verdict, compare, parse_policy, passes, policy_from
from tooling.manifest import function_named

POLICY = parse_policy(
    json.dumps(
        {
            "metrics": {
                "auc": {"direction": "higher", "tolerance": 0.01, "required": True},
                "log_loss": {"direction": "lower", "tolerance": "5%"},
            },
            "auto_promote": ["dev"],
        }
    )
)
names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


# -- metrics.json -----------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.dictionaries(names, finite | st.integers(-(10**12), 10**12), max_size=20))
def test_any_object_of_finite_numbers_reads_back_as_its_numbers(metrics):
    assert parse_metrics(json.dumps(metrics).encode()) == {k: float(v) for k, v in metrics.items()}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_metrics_or_a_parse_error_naming_the_file(raw):
    try:
        parse_metrics(raw)
    except EventParseError as exc:
        assert exc.field is not None and exc.field.startswith("metrics.json")


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | finite | st.text(max_size=5), st.lists, max_leaves=10))
def test_a_document_that_is_not_an_object_is_refused_naming_the_file(document):
    with pytest.raises(EventParseError) as refused:
        parse_metrics(json.dumps(document).encode())
    assert refused.value.field == "metrics.json"


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_refused_naming_its_metric(token):
    with pytest.raises(EventParseError) as refused:
        parse_metrics(f'{{"auc": 0.9, "log_loss": {token}}}'.encode())
    assert refused.value.field == "metrics.json.log_loss"


def test_a_number_past_float_range_is_refused_naming_its_metric():
    with pytest.raises(EventParseError) as refused:
        parse_metrics(b'{"auc": 1e400}')
    assert refused.value.field == "metrics.json.auc"
    with pytest.raises(EventParseError, match=r"metrics\.json\.auc"):
        parse_metrics(b'{"auc": ' + b"9" * 400 + b"}")


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_is_a_metric_up_to_the_largest(value):
    """1.5e308 is finite: it was refused as "not a finite number" by a cap at 1e308."""
    assert parse_metrics(json.dumps({"auc": value}).encode()) == {"auc": value}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"auc": 0.9, "note": ' + b"7" * 5000 + b"}", "metrics.json.note"),  # past int()'s own 4300 digits
        (b'{"auc": ' + b"1" * 310 + b"}", "metrics.json.auc"),
        (b'{"auc": 0.9, "note": ' + b"9" * 309 + b"}", "metrics.json.note"),  # 309 digits, past 1.8e308
        (b'{"auc": 0.9, "notes": [0.8, 1e400]}', "metrics.json.notes[1]"),  # a float past range, in a note
        (b'{"auc": 0.9, "notes": {"folds": [0.8, NaN]}}', "metrics.json.notes.folds[1]"),
        (b'{"auc": 0.9, "x": [Infinity]}', "metrics.json.x[0]"),
        (rb'{"a\u0000b": NaN}', "metrics.json.a\\u0000b"),  # escaped, as JSON writes it
    ],
)
def test_an_unreadable_number_anywhere_is_refused_naming_where_it_is(raw, field):
    with pytest.raises(EventParseError) as refused:
        parse_metrics(raw)
    assert refused.value.field == field


notes = st.lists(
    st.recursive(finite | st.text(max_size=3), lambda inner: st.lists(inner, max_size=3), max_leaves=8), max_size=4
)


@settings(max_examples=100, deadline=None)
@given(notes, st.data())
def test_a_nan_placed_anywhere_in_a_note_is_named_by_its_path(note, data):
    """The oracle: the path the NaN was put at, built beside the document (the only NaN in it)."""
    path, node = "metrics.json.note", note
    while True:  # down a drawn branch of lists
        inner = [i for i, v in enumerate(node) if isinstance(v, list)]
        if not inner or not data.draw(st.booleans()):
            break
        i = data.draw(st.sampled_from(inner))
        path, node = f"{path}[{i}]", node[i]
    at = data.draw(st.integers(0, len(node)))
    node.insert(at, "NAN-HERE")
    raw = json.dumps({"auc": 0.5, "note": note}).replace('"NAN-HERE"', "NaN").encode()
    with pytest.raises(EventParseError, match="is NaN") as refused:
        parse_metrics(raw)
    assert refused.value.field == f"{path}[{at}]"


@pytest.mark.parametrize(
    "raw", [b'{"auc": 0.1, "auc": 0.99}', b'{"auc": 0.9, "notes": {"k": 1, "k": 2}}', b'{"a": 1, "b": 2, "a": 1}']
)
def test_a_key_given_twice_is_refused(raw):
    """Readers differ on which value wins (Python's json keeps the last): the gate would judge another number."""
    with pytest.raises(EventParseError, match="twice"):
        parse_metrics(raw)


def test_the_path_an_error_names_is_kept_short():
    """Nested 100-character keys around a NaN made a 60 KB field, stored in the decision's reason."""
    key = "k" * 100
    raw = ("{" + f'"{key}": {{' * 299 + f'"{key}": NaN' + "}" * 300).encode()
    with pytest.raises(EventParseError) as refused:
        parse_metrics(raw)
    assert refused.value.field.startswith("metrics.json.kkk") and len(refused.value.field) <= 300


def test_a_nan_before_deep_nesting_is_refused_not_a_crash():
    """The NaN stopped the first read; a second, to name its field, met a RecursionError nobody caught, and
    the daily reconcile pass failed on it every day."""
    raw = b'{"auc": NaN, "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    with pytest.raises(EventParseError, match="nested too deeply") as refused:
        parse_metrics(raw)
    assert refused.value.field == "metrics.json"


@pytest.mark.parametrize(
    ("raw", "field", "why"),
    [
        (b'{"accuracy": 0.9}', "metrics.json.auc", "is missing"),
        (b'{"auc": "0.9"}', "metrics.json.auc", "expected a number"),
        (b'{"auc": true}', "metrics.json.auc", "expected a number"),
        (b"auc=0.9", "metrics.json", "not valid JSON"),
        (b"\xff\xfe", "metrics.json", "not UTF-8"),
        (None, "metrics.json", "is missing"),
        (b" " * (MAX_METRICS_BYTES + 1), "metrics.json", "bytes"),
    ],
)
def test_a_malformed_metrics_file_is_refused_naming_the_field(raw, field, why):
    with pytest.raises(EventParseError) as refused:
        parse_metrics(raw, required=("auc",))
    assert refused.value.field == field and why in str(refused.value)


def test_notes_beside_the_numbers_are_left_out():
    assert parse_metrics(b'{"auc": 0.9, "dataset": "holdout-2026-11", "folds": [1, 2]}') == {"auc": 0.9}


# -- the policy -------------------------------------------------------------------------------------
def test_the_manifest_policy_is_the_default_one():
    variable = function_named("evaluate_model").env[POLICY_VARIABLE]
    assert json.loads(variable) == DEFAULT_POLICY
    assert parse_policy(variable) == parse_policy(None)


def test_the_manifest_never_auto_promotes_prod():
    assert "prod" not in parse_policy(function_named("evaluate_model").env[POLICY_VARIABLE]).auto_promote


@pytest.mark.parametrize(
    ("document", "names"),
    [
        ({"metrics": {}}, "metrics"),
        ({"metrics": {"auc": {"direction": "up"}}}, "metrics.auc.direction"),
        ({"metrics": {"auc": {"direction": "higher", "tolerance": -1}}}, "metrics.auc.tolerance"),
        ({"metrics": {"auc": {"direction": "higher", "tolerance": "five"}}}, "metrics.auc.tolerance"),
        ({"metrics": {"auc": {"direction": "higher", "required": "yes"}}}, "metrics.auc.required"),
        ({"metrics": {"auc": {"direction": "higher", "bound": 1}}}, "unknown keys"),
        ({"metrics": {"auc": {"direction": "higher"}}, "auto_promote": ["prod"]}, "prod promotion"),
        ({"metrics": {"auc": {"direction": "higher"}}, "auto_promote": "dev"}, "auto_promote"),
    ],
)
def test_a_bad_policy_is_a_config_error_naming_what(document, names):
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        policy_from(document)


def test_a_policy_that_is_not_json_is_a_config_error():
    with pytest.raises(ConfigError, match=POLICY_VARIABLE):
        parse_policy("auc: higher")


# -- the comparison ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("candidate", "champion", "verdicts", "passed"),
    [
        ({"auc": 0.95}, {"auc": 0.93}, ["better", "not reported"], True),
        ({"auc": 0.93}, {"auc": 0.93}, ["same", "not reported"], True),
        ({"auc": 0.92}, {"auc": 0.93}, ["within tolerance", "not reported"], True),  # 0.01 absolute, float error
        ({"auc": 0.9199}, {"auc": 0.93}, ["worse", "not reported"], False),
        ({"auc": 0.95, "log_loss": 0.21}, {"auc": 0.93, "log_loss": 0.20}, ["better", "within tolerance"], True),
        ({"auc": 0.95, "log_loss": 0.22}, {"auc": 0.93, "log_loss": 0.20}, ["better", "worse"], False),
        ({"auc": 0.95, "log_loss": 0.5}, {"auc": 0.93}, ["better", "no baseline"], True),
        ({"auc": 0.5}, None, ["no baseline", "not reported"], True),
    ],
)
def test_each_metric_is_judged_by_its_direction_and_tolerance(candidate, champion, verdicts, passed):
    comparisons = compare(POLICY, candidate, champion)
    assert [str(c.verdict) for c in comparisons] == verdicts
    assert passes(comparisons) is passed


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1))
def test_higher_is_better_passes_exactly_when_not_worse_past_the_tolerance(mine, theirs):
    (auc, _) = compare(POLICY, {"auc": mine}, {"auc": theirs})
    assert (auc.verdict is not Verdict.WORSE) == (mine >= theirs - 0.01 * (1 + 1e-12))


@settings(max_examples=300, deadline=None)
@given(st.floats(0.001, 100), st.floats(0.001, 100))
def test_relative_tolerance_is_a_share_of_the_champions_value(mine, theirs):
    (_, loss) = compare(POLICY, {"auc": 0.9, "log_loss": mine}, {"auc": 0.9, "log_loss": theirs})
    assert (loss.verdict is not Verdict.WORSE) == (mine <= theirs + 0.05 * theirs * (1 + 1e-12))
    assert math.isfinite(loss.candidate or 0)
