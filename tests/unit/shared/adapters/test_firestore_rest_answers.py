"""How the REST Firestore client reads answers the emulator never gives: a query stream that fails part way,
a database that does not exist (a scripted HTTP server plays Firestore)."""

from __future__ import annotations

import json

import pytest

from shared.adapters import google_rest
from shared.adapters.firestore_rest import FirestoreRest
from shared.adapters.google_rest import FixedToken, GoogleApi, JsonHttp
from shared.errors import ConfigError, TransientError
from tests.support.scripted_http import ScriptedServer

ROOT = "projects/p/databases/(default)/documents"


@pytest.fixture
def client(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> FirestoreRest:
    monkeypatch.setattr(google_rest.time, "sleep", lambda seconds: None)
    return FirestoreRest(GoogleApi(server.url + "v1/", FixedToken("owner"), JsonHttp(timeout_s=5)), "p")


def document(doc_id: str) -> dict:
    return {"document": {"name": f"{ROOT}/rows/{doc_id}", "fields": {"env": {"stringValue": "dev"}}}}


def test_a_query_stream_that_fails_part_way_is_transient_not_short(
    server: ScriptedServer, client: FirestoreRest
) -> None:
    # GIVEN a runQuery answer whose stream broke after one document (HTTP 200, an error item last)
    server.script = [(200, [document("a"), {"error": {"code": 503, "status": "UNAVAILABLE"}}], False)]

    # WHEN the query is read THEN it fails (transient) rather than answer with the rows it got
    with pytest.raises(TransientError, match="part way"):
        client.collection("rows").where("env", "==", "dev").get()


def test_a_query_answer_that_is_no_list_is_transient(server: ScriptedServer, client: FirestoreRest) -> None:
    server.script = [(200, {"unexpected": True}, False)]
    with pytest.raises(TransientError):
        client.collection("rows").get()


def test_a_full_query_answer_reads_every_document(server: ScriptedServer, client: FirestoreRest) -> None:
    # GIVEN a stream of two documents and a trailing read time (what an empty tail looks like)
    server.script = [(200, [document("a"), document("b"), {"readTime": "2026-12-06T00:00:00Z"}], False)]

    # WHEN it is read THEN both come back with their ids, and the query went to the parent's runQuery
    assert [s.id for s in client.collection("rows").get()] == ["a", "b"]
    assert server.requests[0]["path"] == f"/v1/{ROOT}:runQuery"


def test_a_missing_database_is_a_configuration_error_not_a_missing_document(
    server: ScriptedServer, client: FirestoreRest
) -> None:
    # GIVEN Firestore's answer for a project without that database
    message = "The database (default) does not exist for project p Please visit https://console.cloud.google.com"
    server.script = [(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": message}}, False)]

    # WHEN a document is read THEN the error says so, rather than "no such document" (which a claim would
    # answer with a create that fails the same way, round after round)
    with pytest.raises(ConfigError, match="does not exist"):
        client.collection("idempotency").document("k").get()


def test_a_document_is_read_by_its_name_in_the_body(server: ScriptedServer, client: FirestoreRest) -> None:
    # GIVEN :batchGet's answers: the document found, then absent
    name = f"{ROOT}/idempotency/a b"
    found = {"name": name, "fields": {"status": {"stringValue": "completed"}}, "updateTime": "2026-12-06T00:00:00Z"}
    server.script = [(200, [{"found": found}], False), (200, [{"missing": name}], False)]

    # WHEN a document whose id holds a space is read twice
    first = client.collection("idempotency").document("a b").get()
    second = client.collection("idempotency").document("a b").get()

    # THEN the first has its fields and update time, the second does not exist; the id went in the body
    assert (first.exists, first.to_dict(), first.update_time) == (True, {"status": "completed"}, found["updateTime"])
    assert (second.exists, second.to_dict()) == (False, None)
    assert server.requests[0]["path"] == f"/v1/{ROOT}:batchGet"
    assert json.loads(server.requests[0]["body"]) == {"documents": [name]}


def test_a_read_whose_answer_names_nothing_is_transient(server: ScriptedServer, client: FirestoreRest) -> None:
    server.script = [(200, [{"readTime": "2026-12-06T00:00:00Z"}], False)]
    with pytest.raises(TransientError):
        client.collection("idempotency").document("k").get()
