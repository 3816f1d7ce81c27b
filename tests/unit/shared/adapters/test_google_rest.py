"""The REST transport of the functions' Google calls (shared/adapters/google_rest.py), against a real local
HTTP server that answers from a script: errors named by Google's status, retries, kept-alive connections the
server dropped, tokens from the metadata server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.adapters import google_rest
from shared.adapters.google_rest import (
    AlreadyExists,
    ApiError,
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


class ScriptedServer:
    """Answers each request with the next (status, body, close) of `script`, the last one forever; keeps
    every request's method, path, headers and body."""

    def __init__(self) -> None:
        self.script: list[tuple[int, Any, bool]] = [(200, {}, False)]
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Google's front ends do

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, answer, close = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                if close:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                if close:
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    running = ScriptedServer()
    yield running
    running.close()


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


def test_a_busy_server_is_tried_three_times_then_transient(server: ScriptedServer) -> None:
    # GIVEN a server answering 503 to everything
    server.script = [(503, google_error(503, "UNAVAILABLE"), False)]

    # WHEN a request is made THEN it is sent three times, then the platform's retry takes over
    with pytest.raises(TransientError):
        api(server).call("GET", "v1/thing")
    assert len(server.requests) == 3


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
    first, second = token.authorization(), token.authorization()
    server.script = [(200, {"access_token": "t2", "expires_in": 3600, "token_type": "Bearer"}, False)]
    clock[0] += 3541
    third = token.authorization()

    # THEN one fetch served the first two, with the header the metadata server requires; a new one the third
    assert (first, second, third) == ("Bearer t1", "Bearer t1", "Bearer t2")
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
