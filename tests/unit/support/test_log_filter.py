"""The Logging-query subset evaluator (tests/support/log_filter.py): what it decides, and what it refuses."""

from __future__ import annotations

import pytest

from tests.support.log_filter import UnsupportedFilter, entry_from_line, gcp_function_resource, hcl_string, parse

LINE = {
    "severity": "WARNING",
    "time": "2026-12-05T22:00:00+00:00",
    "logger": "mlops_events.outcome",
    "message": "budget_alert: rejected: data.name: is missing",
    "function": "budget_alert",
    "event_id": "e-1",
    "outcome": "rejected",
    "detail": "fraud-detector (dev): DRIFT in 3 of 5 features (a, b, c); report gs://x",
    "latency_ms": 12.5,
    "logging.googleapis.com/trace": "projects/p/traces/t",
}
ENTRY = entry_from_line(LINE, gcp_function_resource("budget_alert"))


def test_the_entry_is_what_cloud_logging_makes_of_the_line():
    assert ENTRY["severity"] == "WARNING"
    assert "severity" not in ENTRY["jsonPayload"] and "time" not in ENTRY["jsonPayload"]
    assert not any(key.startswith("logging.googleapis.com/") for key in ENTRY["jsonPayload"])
    assert ENTRY["resource"]["type"] == "cloud_run_revision"
    assert ENTRY["resource"]["labels"]["service_name"] == "budget-alert"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('jsonPayload.logger="mlops_events.outcome"', True),
        ('jsonPayload.logger="mlops_events"', False),  # equality, not prefix
        ('jsonPayload.logger="MLOPS_EVENTS.OUTCOME"', False),  # case-sensitive
        ('resource.type="cloud_run_revision" AND jsonPayload.outcome="rejected"', True),
        ('resource.type="cloud_run_revision" AND jsonPayload.outcome="error"', False),
        ('jsonPayload.outcome=("error" OR "retry")', False),
        ('jsonPayload.outcome=("error" OR "rejected")', True),
        ('resource.labels.service_name="budget-alert"', True),
        ('jsonPayload.missing="x"', False),  # a missing field matches nothing
        ('jsonPayload.logger.deeper="x"', False),  # a path through a string
        ('jsonPayload.detail=~"^[^;]*: DRIFT in [0-9]+ of [0-9]+ features"', True),
        ('jsonPayload.detail=~"DRIFT in [0-9]+ of"', True),  # unanchored: a search
        ('jsonPayload.detail=~"^DRIFT"', False),
        ('jsonPayload.message="budget_alert: rejected: data.name: is missing"', True),
        ('jsonPayload.message="a \\"quoted\\" one"', False),
    ],
)
def test_the_subset_decides(query, expected):
    assert parse(query).matches(ENTRY) is expected


def test_escaped_quotes_and_backslashes_are_the_characters():
    entry = entry_from_line({"detail": 'say "hi" \\ bye'}, gcp_function_resource("f"))
    assert parse('jsonPayload.detail="say \\"hi\\" \\\\ bye"').matches(entry)


@pytest.mark.parametrize(
    "query",
    [
        'jsonPayload.outcome="error" OR jsonPayload.outcome="retry"',  # OR between clauses
        'NOT jsonPayload.outcome="error"',
        '-jsonPayload.outcome="error"',
        'jsonPayload.outcome!="error"',
        'jsonPayload.detail:"DRIFT"',  # has
        "jsonPayload.latency_ms>100",
        'jsonPayload.latency_ms>="100"',
        "jsonPayload.outcome=error",  # unquoted value
        '"mlops_events.outcome"',  # global search
        "mlops_events",
        'jsonPayload.outcome="error" and resource.type="x"',  # lowercase and
        'jsonPayload.outcome="error" resource.type="x"',  # implicit AND
        'jsonPayload.outcome="error"  AND resource.type="x"',  # not the one spacing
        '(jsonPayload.outcome="error")',  # grouped clauses
        'jsonPayload.outcome=("error" or "retry")',
        'jsonPayload.outcome==("error")',
        'SEARCH("error")',
        'jsonPayload.outcome="${var.x}"',  # Terraform interpolation
        'jsonPayload.detail=~"\\d+"',  # an escape class: RE2 and Python differ on some
        'jsonPayload.detail=~"(?i)drift"',  # flags
        'jsonPayload.detail=~"a{2}"',
        "",
        'jsonPayload.outcome="error" AND',
    ],
)
def test_syntax_outside_the_subset_is_refused(query):
    with pytest.raises(UnsupportedFilter):
        parse(query)


@pytest.mark.parametrize(
    "path", ["jsonPayload.latency_ms", "jsonPayload.flag", "jsonPayload.nothing", "jsonPayload.list"]
)
def test_a_non_string_field_is_refused_not_guessed(path):
    entry = entry_from_line(
        {"latency_ms": 12, "flag": True, "nothing": None, "list": ["a"]}, gcp_function_resource("f")
    )
    with pytest.raises(UnsupportedFilter):
        parse(f'{path}="12"').matches(entry)


def test_extractors():
    query = parse('jsonPayload.logger="mlops_events.outcome"')
    assert query.extract(ENTRY, "EXTRACT(jsonPayload.function)") == "budget_alert"
    assert query.extract(ENTRY, "EXTRACT(jsonPayload.latency_ms)") == 12.5
    assert query.extract(ENTRY, "EXTRACT(jsonPayload.absent)") is None
    with pytest.raises(UnsupportedFilter):
        query.extract(ENTRY, 'REGEXP_EXTRACT(jsonPayload.detail, "(.*)")')


def test_hcl_string_literals():
    assert hcl_string('"resource.type=\\"x\\""') == 'resource.type="x"'
    with pytest.raises(UnsupportedFilter):
        hcl_string("${local.x}")
