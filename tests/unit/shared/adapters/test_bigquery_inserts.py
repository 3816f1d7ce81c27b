"""StreamingInserts (tabledata.insertAll over REST) against a scripted HTTP server playing BigQuery; the
registry tests run it against bqemulator."""

from __future__ import annotations

import json

import pytest

from shared.adapters.bigquery_inserts import StreamingInserts
from shared.adapters.google_rest import FixedToken, GoogleApi, JsonHttp
from tests.support.scripted_http import ScriptedServer


def inserts(server: ScriptedServer) -> StreamingInserts:
    return StreamingInserts(GoogleApi(server.url + "bigquery/v2/", FixedToken(), JsonHttp(timeout_s=5)))


def test_rows_go_out_with_their_insert_ids_and_refusals_come_back(server: ScriptedServer) -> None:
    # GIVEN BigQuery refusing the second of two rows
    refusal = {"index": 1, "errors": [{"reason": "invalid", "message": "no such field: x"}]}
    server.script = [(200, {"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": [refusal]}, False)]

    # WHEN two rows are inserted into a table of a domain-scoped project
    errors = inserts(server).insert("example.com:proj.ds.registry_events", [{"a": 1}, {"x": 2}], ["k1", "k2"])

    # THEN the refusal is returned, the path names the project whole, and each row carries its insertId
    assert errors == [refusal]
    [request] = server.requests
    assert request["path"] == "/bigquery/v2/projects/example.com%3Aproj/datasets/ds/tables/registry_events/insertAll"
    assert json.loads(request["body"]) == {
        "rows": [{"insertId": "k1", "json": {"a": 1}}, {"insertId": "k2", "json": {"x": 2}}]
    }


def test_an_answer_without_errors_is_an_empty_list(server: ScriptedServer) -> None:
    server.script = [(200, {"kind": "bigquery#tableDataInsertAllResponse"}, False)]
    assert inserts(server).insert("p.ds.t", [{"a": 1}], ["k"]) == []


def test_rows_and_ids_of_different_lengths_are_refused_before_sending(server: ScriptedServer) -> None:
    with pytest.raises(ValueError):
        inserts(server).insert("p.ds.t", [{"a": 1}, {"a": 2}], ["k"])
    assert server.requests == []
