"""The REST transport of the functions' Google calls (shared/adapters/google_rest.py), against a real local
HTTP server that answers from a script: errors named by Google's status, retries, kept-alive connections the
server dropped, tokens from the metadata server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.adapters import google_rest
from shared.adapters.google_rest import (
    AlreadyExists,
    ApiError,
    CredentialsToken,
    FailedPrecondition,
    FixedToken,
    GoogleApi,
    JsonHttp,
    MetadataServerToken,
    NotFound,
    RangeNotSatisfiable,
)
from shared.config import load_settings
from shared.deps import Deps
from shared.errors import ConfigError, TransientError
from tests.support.scripted_http import ScriptedServer


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(google_rest.time, "sleep", lambda seconds: None)


def api(server: ScriptedServer, token: str | None = None) -> GoogleApi:
    return GoogleApi(server.url, FixedToken(token), JsonHttp(timeout_s=5))


def google_error(code: int, status: str) -> dict[str, Any]:
    return {"error": {"code": code, "status": status, "message": f"the server says {status}"}}


@pytest.mark.parametrize(
    ("code", "status", "raised"),
    [
        (409, "ALREADY_EXISTS", AlreadyExists),
        (400, "FAILED_PRECONDITION", FailedPrecondition),
        (412, "", FailedPrecondition),  # GCS: a generation precondition, no JSON status
        (404, "NOT_FOUND", NotFound),
        (416, "", RangeNotSatisfiable),
        (400, "INVALID_ARGUMENT", ApiError),
        (403, "PERMISSION_DENIED", ApiError),
    ],
)
def test_an_error_answer_raises_by_googles_status(server: ScriptedServer, code: int, status: str, raised: type) -> None:
    # GIVEN a server answering with a Google error body (or none)
    server.script = [(code, google_error(code, status) if status else b"", False)]

    # WHEN a request is made THEN the exception names the status, and it is not retried
    with pytest.raises(raised) as caught:
        api(server).call("POST", "v1/thing", body={"a": 1})
    assert type(caught.value) is raised and caught.value.code == code
    assert len(server.requests) == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_busy_server_is_tried_three_times_then_transient(server: ScriptedServer, method: str) -> None:
    # GIVEN a server answering 503 (it applied nothing) to everything
    server.script = [(503, google_error(503, "UNAVAILABLE"), False)]

    # WHEN a read or a write is made THEN it is sent three times, then the platform's retry takes over
    with pytest.raises(TransientError):
        api(server).call(method, "v1/thing", body={} if method == "POST" else None)
    assert len(server.requests) == 3


@pytest.mark.parametrize("code", [500, 502, 504])
def test_a_write_the_server_may_have_applied_is_not_sent_again(server: ScriptedServer, code: int) -> None:
    # GIVEN a server failing a commit with an answer that does not say it was not applied
    server.script = [(code, google_error(code, "INTERNAL"), False)]

    # WHEN a commit (not idempotent) is made THEN it is sent once, and the failure is transient
    with pytest.raises(TransientError):
        api(server).call("POST", "v1/x:commit", body={"writes": []})
    assert len(server.requests) == 1
    # AND a read, or a write declared idempotent (insertAll with insertIds), is sent three times
    server.requests.clear()
    with pytest.raises(TransientError):
        api(server).call("POST", "v1/t/insertAll", body={}, idempotent=True)
    assert len(server.requests) == 3


def test_firestore_contention_is_sent_again(server: ScriptedServer) -> None:
    # GIVEN a commit aborted on contention (HTTP 409 ABORTED: nothing applied), then accepted
    server.script = [(409, google_error(409, "ABORTED"), False), (200, {"commitTime": "x"}, False)]

    # WHEN it is made THEN the second try's answer comes back
    assert api(server).call("POST", "v1/x:commit", body={}) == {"commitTime": "x"}


def test_bigquery_rate_limits_are_sent_again(server: ScriptedServer) -> None:
    # GIVEN BigQuery's 403 rateLimitExceeded, then success
    limited = {"error": {"code": 403, "errors": [{"reason": "rateLimitExceeded"}], "message": "slow down"}}
    server.script = [(403, limited, False), (200, {"kind": "bigquery#tableDataInsertAllResponse"}, False)]

    # WHEN rows are inserted THEN the retry's answer comes back; a 403 for a missing permission is not retried
    assert api(server).call("POST", "v1/t/insertAll", body={}, idempotent=True)["kind"].startswith("bigquery")
    server.script = [(403, google_error(403, "PERMISSION_DENIED"), False)]
    with pytest.raises(ApiError):
        api(server).call("POST", "v1/t/insertAll", body={}, idempotent=True)


def test_a_refused_token_is_fetched_again_once(server: ScriptedServer) -> None:
    # GIVEN a token source, and an API that refuses its first token
    class Rotating:
        def __init__(self) -> None:
            self.issued = 0

        def headers(self) -> dict[str, str]:
            return {"Authorization": f"Bearer t{self.issued}"}

        def invalidate(self) -> None:
            self.issued += 1

    server.script = [(401, google_error(401, "UNAUTHENTICATED"), False), (200, {"ok": 1}, False)]

    # WHEN a request is made THEN it is sent again with a new token, and answered
    assert GoogleApi(server.url, Rotating(), JsonHttp(timeout_s=5)).call("GET", "v1/x") == {"ok": 1}
    assert [r["headers"]["Authorization"] for r in server.requests] == ["Bearer t0", "Bearer t1"]


@pytest.mark.parametrize("page", [b"<html>502 Bad Gateway</html>", b"", b'{"truncated": '])
def test_an_answer_that_is_not_json_is_transient(server: ScriptedServer, page: bytes) -> None:
    # GIVEN a 200 that is not the API's JSON (a proxy's page, an empty or cut body)
    server.script = [(200, page or b"x", False)] if page else [(200, b" ", False)]

    # WHEN it is read as JSON THEN the failure is transient, and it does not quote the page
    with pytest.raises(TransientError) as caught:
        api(server).call("GET", "v1/x")
    assert "html" not in str(caught.value).lower() or "text/html" in str(caught.value)


def test_an_error_inside_a_list_is_read_by_its_status(server: ScriptedServer) -> None:
    # GIVEN Firestore's streamed form of an error: a list holding it
    server.script = [(400, [google_error(400, "FAILED_PRECONDITION")], False)]

    # WHEN the request fails THEN the status is the one in the list
    with pytest.raises(FailedPrecondition):
        api(server).call("POST", "v1/x:runQuery", body={}, idempotent=True)


def test_a_header_sent_twice_is_kept_whole(server: ScriptedServer) -> None:
    # GIVEN GCS's x-goog-hash sent as two header lines
    server.script = [(200, b"data", False, [("x-goog-hash", "crc32c=AAAA"), ("x-goog-hash", "md5=BBBB")])]

    # WHEN the answer's headers are asked for THEN both values are there
    headers: dict[str, str] = {}
    api(server).call("GET", "o", raw=True, answer_headers=headers)
    assert set(headers["x-goog-hash"].split(",")) == {"crc32c=AAAA", "md5=BBBB"}
    assert headers[":status"] == "200"


def test_a_token_a_header_cannot_carry_is_refused_without_being_shown(server: ScriptedServer) -> None:
    with pytest.raises(ValueError) as caught:
        api(server, "ya29.SECRET\nInjected: 1").call("GET", "v1/x")
    assert "SECRET" not in str(caught.value)
    assert server.requests == []


def test_application_default_credentials_send_their_quota_project() -> None:
    # GIVEN user credentials with a quota project, already valid
    class UserCredentials:
        valid, token, quota_project_id = True, "ya29.user", "billing-project"

    # WHEN their headers are built THEN the quota project goes with the token, as the SDKs send it
    assert CredentialsToken(UserCredentials()).headers() == {
        "Authorization": "Bearer ya29.user",
        "x-goog-user-project": "billing-project",
    }


def test_a_write_never_goes_out_on_a_connection_idle_for_seconds(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a client that made a request, then sat idle for 3 s (a function instance between events)
    clock = [100.0]
    monkeypatch.setattr(google_rest.time, "monotonic", lambda: clock[0])
    client = api(server)
    client.call("GET", "v1/one")
    clock[0] += 3

    # WHEN a commit follows, then a read right after it
    client.call("POST", "v1/x:commit", body={})
    client.call("GET", "v1/two")

    # THEN the commit opened a new connection (the idle one may be closed by now), the read reused that one
    first, commit, read = (r["port"] for r in server.requests)
    assert commit != first and read == commit


def test_a_server_that_recovers_answers_the_retry(server: ScriptedServer) -> None:
    # GIVEN a 429, then a 500, then an answer
    server.script = [(429, b"", False), (500, b"", False), (200, {"ok": True}, False)]

    # WHEN a request is made THEN the caller gets the answer
    assert api(server).call("GET", "v1/thing") == {"ok": True}
    assert len(server.requests) == 3


def test_a_kept_alive_connection_the_server_dropped_is_replaced(server: ScriptedServer) -> None:
    # GIVEN a client whose first request left its connection open, then a server that closed it
    client = api(server)
    server.script = [(200, {"n": 1}, True), (200, {"n": 2}, False)]
    assert client.call("GET", "v1/one") == {"n": 1}

    # WHEN the next request is made THEN it is answered on a new connection, not failed
    assert client.call("GET", "v1/two") == {"n": 2}
    assert [r["path"] for r in server.requests] == ["/v1/one", "/v1/two"]


def test_nothing_listening_is_transient() -> None:
    from tooling.localcloud.emulators import free_port

    dead = GoogleApi(f"http://127.0.0.1:{free_port()}/", FixedToken(), JsonHttp(timeout_s=1))
    with pytest.raises(TransientError):
        dead.call("GET", "v1/thing")


def test_the_request_carries_the_token_the_json_and_the_query(server: ScriptedServer) -> None:
    # WHEN a request is made with a token, a body and parameters (one of them None)
    api(server, "owner").call("POST", "v1/x:commit", body={"k": "é"}, params={"a": "b c", "skip": None})

    # THEN all three arrive as sent, the None parameter left out
    [request] = server.requests
    assert request["path"] == "/v1/x:commit?a=b+c"
    assert request["headers"]["Authorization"] == "Bearer owner"
    assert json.loads(request["body"]) == {"k": "é"}
    assert request["headers"]["Content-Type"] == "application/json"


def test_the_metadata_server_token_is_fetched_once_and_refreshed_before_expiry(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a metadata server (GCE_METADATA_HOST moves it, as for google-auth) giving 1-hour tokens
    monkeypatch.setenv("GCE_METADATA_HOST", server.url.removeprefix("http://").rstrip("/"))
    server.script = [(200, {"access_token": "t1", "expires_in": 3600, "token_type": "Bearer"}, False)]
    clock = [1000.0]
    monkeypatch.setattr(google_rest.time, "monotonic", lambda: clock[0])
    token = MetadataServerToken(JsonHttp(timeout_s=5))

    # WHEN the token is asked for twice within the hour, then past 59 minutes
    first, second = token.headers(), token.headers()
    server.script = [(200, {"access_token": "t2", "expires_in": 3600, "token_type": "Bearer"}, False)]
    clock[0] += 3541
    third = token.headers()

    # THEN one fetch served the first two, with the header the metadata server requires; a new one the third
    assert [h["Authorization"] for h in (first, second, third)] == ["Bearer t1", "Bearer t1", "Bearer t2"]
    assert [r["path"] for r in server.requests] == [google_rest.METADATA_TOKEN_PATH] * 2
    assert server.requests[0]["headers"]["Metadata-Flavor"] == "Google"
    assert "Authorization" not in server.requests[0]["headers"]


def test_on_cloud_run_the_three_apis_share_the_metadata_servers_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the cloud profile on Cloud Run (K_SERVICE set, no key file)
    monkeypatch.setenv("K_SERVICE", "register-model")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    deps = Deps(load_settings({"MLOPS_EVENTS_PROFILE": "cloud", "MLOPS_EVENTS_GCP_PROJECT": "p"}))

    # WHEN the three REST endpoints are built THEN they share one metadata-server token and one transport
    apis = [deps.google_api(service) for service in ("firestore", "storage", "bigquery")]
    assert isinstance(apis[0].auth, MetadataServerToken)
    assert all(a.auth is apis[0].auth and a.http is apis[0].http for a in apis)
    assert [a.base_url for a in apis] == [
        "https://firestore.googleapis.com/v1/",
        "https://storage.googleapis.com/",
        "https://bigquery.googleapis.com/bigquery/v2/",
    ]


def test_the_emulators_profile_names_a_missing_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the emulators profile without FIRESTORE_EMULATOR_HOST
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    deps = Deps(load_settings({"MLOPS_EVENTS_PROFILE": "emulators"}))

    # WHEN Firestore is asked for THEN the error names the variable, not a connection to the cloud
    with pytest.raises(ConfigError, match="FIRESTORE_EMULATOR_HOST"):
        deps.google_api("firestore")
