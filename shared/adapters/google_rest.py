"""JSON over HTTP to Google's REST APIs (Firestore, Cloud Storage, BigQuery), on the standard library alone.

Why not the Google SDKs on the functions' event path: their imports are most of a cold start. After
functions-framework, `google.cloud.firestore` takes ~170 ms to import (gRPC, protobuf, api_core,
cryptography), `google.cloud.storage` ~115 ms and `google.cloud.bigquery` ~90 ms, against a bare function's
~130 ms from process start to first answer (benchmarks/cold_start.py --breakdown). These few endpoints are
stable, documented JSON; `http.client` is already loaded.

One connection per thread and host, kept alive. Retries: a request on a kept-alive connection the server
had closed is sent again once on a fresh one; 429 and 5xx are tried 3 times with a short backoff, then
raised as TransientError, as are network failures, so the platform redelivers. Other failures raise
`ApiError` with the HTTP code and Google's status name (`ALREADY_EXISTS`, `FAILED_PRECONDITION`, ...).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from shared.errors import TransientError

DEFAULT_TIMEOUT_S = 30.0
_ATTEMPTS = 3
_TRANSIENT_CODES = frozenset({408, 429, 500, 502, 503, 504})
# On Cloud Run and Cloud Functions: the instance's service account token, no library needed. GCE_METADATA_HOST
# moves the server, as it does for google-auth.
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"


class ApiError(Exception):
    """A Google API answered with an error that retrying the same request does not fix."""

    def __init__(self, code: int, status: str, message: str) -> None:
        self.code = code
        self.status = status  # Google's canonical name: NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, ...
        super().__init__(f"HTTP {code} {status}: {message}")


class NotFound(ApiError):
    pass


class AlreadyExists(ApiError):
    pass


class FailedPrecondition(ApiError):
    """A conditional write whose condition no longer holds (Firestore's updateTime, GCS's generation)."""


class RangeNotSatisfiable(ApiError):
    pass


def _error_for(code: int, body: bytes) -> ApiError:
    status, message = "", body[:300].decode("utf-8", "replace")
    try:
        error = json.loads(body).get("error")
        if isinstance(error, dict):
            status, message = str(error.get("status") or ""), str(error.get("message") or message)
    except (ValueError, AttributeError):
        pass
    if code == 404 or status == "NOT_FOUND":
        return NotFound(code, status or "NOT_FOUND", message)
    if status == "ALREADY_EXISTS" or (code == 409 and not status):
        return AlreadyExists(code, status or "ALREADY_EXISTS", message)
    if status == "FAILED_PRECONDITION" or code == 412:
        return FailedPrecondition(code, status or "FAILED_PRECONDITION", message)
    if code == 416:
        return RangeNotSatisfiable(code, status or "OUT_OF_RANGE", message)
    return ApiError(code, status or "UNKNOWN", message)


class TokenSource(Protocol):
    def authorization(self) -> str | None:
        """The Authorization header's value, or None to send none."""


@dataclass(frozen=True)
class FixedToken:
    """Emulators: none, or the Firestore emulator's `owner` (which bypasses security rules, as the SDK does)."""

    value: str | None = None

    def authorization(self) -> str | None:
        return f"Bearer {self.value}" if self.value else None


class MetadataServerToken:
    """The service account token of a Cloud Run service or Cloud Function, refreshed a minute before expiry."""

    def __init__(self, http: JsonHttp | None = None) -> None:
        self._http = http or JsonHttp()
        self._url = f"http://{os.environ.get('GCE_METADATA_HOST') or 'metadata.google.internal'}{METADATA_TOKEN_PATH}"
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def authorization(self) -> str | None:
        with self._lock:
            if self._token is None or time.monotonic() > self._expires - 60:
                answer = self._http.request("GET", self._url, headers={"Metadata-Flavor": "Google"}, auth=FixedToken())
                self._token = f"{answer['token_type']} {answer['access_token']}"
                self._expires = time.monotonic() + float(answer["expires_in"])
            return self._token


class CredentialsToken:
    """Any google-auth credentials (ADC: a user's login, a key file): imported only where it is needed."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()

    def authorization(self) -> str | None:
        with self._lock:
            if not self._credentials.valid:
                from google.auth.transport.requests import Request

                self._credentials.refresh(Request())
            return f"Bearer {self._credentials.token}"


def on_google_serverless() -> bool:
    """Cloud Run (K_SERVICE) and Cloud Functions gen2 set these; a key file named in the environment wins."""
    return bool(os.environ.get("K_SERVICE")) and not os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")


class JsonHttp:
    """Requests to absolute URLs; JSON bodies and answers unless told otherwise."""

    def __init__(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s
        self._local = threading.local()

    def _connection(self, scheme: str, netloc: str, *, fresh: bool) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        key = (scheme, netloc)
        if fresh and key in pool:
            pool.pop(key).close()
        if key not in pool:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            pool[key] = cls(netloc, timeout=self._timeout_s)
        return pool[key]

    def request(
        self,
        method: str,
        url: str,
        *,
        auth: TokenSource,
        params: dict[str, Any] | None = None,
        body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
        answer_headers: dict[str, str] | None = None,
    ) -> Any:
        """`body` is sent as JSON, `data` as is; the answer is parsed JSON, or bytes with `raw`. The answer's
        headers (names lowercased) are put in `answer_headers` when given."""
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if params:
            target += ("&" if parts.query else "?") + urlencode({k: v for k, v in params.items() if v is not None})
        sent = dict(headers or {})
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode()
            sent.setdefault("Content-Type", "application/json")
        authorization = auth.authorization()
        if authorization:
            sent["Authorization"] = authorization
        for attempt in range(_ATTEMPTS):
            code, answer, received = self._send(parts.scheme, parts.netloc, method, target, data, sent)
            transient = code in _TRANSIENT_CODES or (code == 409 and b'"ABORTED"' in answer)  # contention
            if not transient:
                break
            if attempt + 1 < _ATTEMPTS:
                time.sleep(0.1 * 2**attempt * (1 + random.random()))
        if transient:
            raise TransientError(f"{method} {parts.netloc}{parts.path}: HTTP {code}: {answer[:300]!r}")
        if code >= 300:
            raise _error_for(code, answer)
        if answer_headers is not None:
            answer_headers.update(received)
        if raw:
            return answer
        return json.loads(answer) if answer else {}

    def _send(
        self, scheme: str, netloc: str, method: str, target: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        for fresh in (False, True):
            connection = self._connection(scheme, netloc, fresh=fresh)
            reused = connection.sock is not None
            try:
                connection.request(method, target, body=data, headers=headers)
                response = connection.getresponse()
                body = response.read()
                return response.status, body, {k.lower(): v for k, v in response.getheaders()}
            except (ConnectionError, http.client.HTTPException) as exc:
                connection.close()
                if reused and not fresh:
                    continue  # the server closed the kept-alive connection: send once more on a new one
                raise TransientError(f"{method} {netloc}: {type(exc).__name__}: {exc}") from exc
            except TimeoutError as exc:
                connection.close()
                raise TransientError(f"{method} {netloc}: timed out after {self._timeout_s} s") from exc
            except OSError as exc:  # refused, unreachable, DNS
                connection.close()
                raise TransientError(f"{method} {netloc}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class GoogleApi:
    """One service's base URL and credentials over a shared JsonHttp."""

    base_url: str  # ends with "/"
    auth: TokenSource
    http: JsonHttp

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.http.request(method, self.base_url + path.lstrip("/"), auth=self.auth, **kwargs)


def emulator_base(host: str) -> str:
    """An emulator's address as the SDKs take it (`host:port` or a URL) as a base URL."""
    host = host.rstrip("/")
    return (host if "://" in host else f"http://{host}") + "/"


_RFC3339_CLOCK = re.compile(r"(\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$")


def parse_rfc3339(text: str) -> datetime:
    """A Google API timestamp (RFC 3339, up to nanoseconds, Z or an offset) to the microsecond, in UTC."""
    date, _, rest = text.partition("T")
    clock = _RFC3339_CLOCK.match(rest)
    if clock is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    whole, fraction, zone = clock.groups()
    micros = (fraction or "").ljust(6, "0")[:6]
    offset = "+00:00" if zone in ("Z", "z") else zone
    return datetime.fromisoformat(f"{date}T{whole}.{micros}{offset}").astimezone(UTC)
