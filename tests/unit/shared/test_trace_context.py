"""Trace headers: only their grammar is taken, and nothing they hold can fail a request.

GIVEN a `traceparent` or `X-Cloud-Trace-Context` header, well formed or not
WHEN it is read
THEN a well-formed one gives its trace id, its span as Cloud Logging's 16 hex digits and the sampled
flag, the same as W3C's and Google's documents define them; anything else is no trace, never an error.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from shared.trace_context import (
    TraceContext,
    current_log_fields,
    from_cloud_trace_context,
    from_headers,
    from_traceparent,
    tracing,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_w3c_traceparent_example_from_the_specification():
    found = from_traceparent(f"00-{TRACE}-00f067aa0ba902b7-01")
    assert found == TraceContext(TRACE, "00f067aa0ba902b7", True)
    assert from_traceparent(f"00-{TRACE}-00f067aa0ba902b7-00").sampled is False


def test_cloud_trace_context_span_is_decimal_there_and_hex_in_cloud_logging():
    found = from_cloud_trace_context(f"{TRACE}/1;o=1")
    assert found == TraceContext(TRACE, "0000000000000001", True)
    assert from_cloud_trace_context(f"{TRACE}/{2**64 - 1}").span_id == "f" * 16
    assert from_cloud_trace_context(f"{TRACE}/{2**64}").span_id is None  # past uint64: no span, trace kept
    assert from_cloud_trace_context(TRACE) == TraceContext(TRACE, None, None)


def test_invalid_values_are_no_trace():
    for value in (
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id is invalid
        f"00-{TRACE}-{'0' * 16}-01",
        f"01-{TRACE}-00f067aa0ba902b7-01",  # only version 00 is read
        f"00-{TRACE}-00f067aa0ba902b7-01-extra",
        f"00-{TRACE[:-1]}-00f067aa0ba902b7-01",
        f"00-{TRACE}-00f067aa0ba902b7-01\n",
        "",
        None,
        "x" * 10_000,
    ):
        assert from_traceparent(value) is None, value
    for value in (f"{TRACE};o=2", f"{TRACE}/-1", f"{TRACE}/1;o=1;x", "0" * 32, f"{TRACE}\x00", "\u0661" * 32):
        assert from_cloud_trace_context(value) is None, value


@given(st.text(max_size=300))
def test_no_header_value_raises_and_what_is_taken_matches_the_grammar(value):
    for found in (from_traceparent(value), from_cloud_trace_context(value)):
        if found is not None:
            assert re.fullmatch(r"[0-9a-f]{32}", found.trace_id) and found.trace_id != "0" * 32
            assert found.span_id is None or re.fullmatch(r"[0-9a-f]{16}", found.span_id)


def test_header_order_traceparent_then_cloud_trace_then_the_cloud_events_attribute():
    other = "a" * 32
    headers = {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01", "X-Cloud-Trace-Context": f"{other}/5;o=1"}
    assert from_headers(headers.get).trace_id == TRACE
    assert from_headers({"X-Cloud-Trace-Context": f"{other}/5"}.get).trace_id == other
    attribute = f"00-{other}-00f067aa0ba902b7-00"
    assert from_headers({}.get, cloud_event_traceparent=attribute).trace_id == other
    assert from_headers({"traceparent": "garbage"}.get) is None


def test_log_fields_name_the_project_and_go_away_after_the_block(monkeypatch):
    monkeypatch.setenv("MLOPS_EVENTS_GCP_PROJECT", "my-project")
    with tracing(TraceContext(TRACE, "00f067aa0ba902b7", True)):
        assert current_log_fields() == {
            "logging.googleapis.com/trace": f"projects/my-project/traces/{TRACE}",
            "logging.googleapis.com/spanId": "00f067aa0ba902b7",
            "logging.googleapis.com/trace_sampled": True,
        }
    assert current_log_fields() == {}
    monkeypatch.delenv("MLOPS_EVENTS_GCP_PROJECT")
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with tracing(TraceContext(TRACE, None, None)):
        assert current_log_fields() == {}  # no project to name: Cloud Logging would not read it
