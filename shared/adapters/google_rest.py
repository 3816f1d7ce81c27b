"""JSON over HTTP to Google's REST APIs (Firestore, Cloud Storage, BigQuery), on the standard library alone.

Why not the Google SDKs on the functions' event path: their imports are most of a cold start. After
functions-framework, `google.cloud.firestore` takes ~170 ms to import (gRPC, protobuf, api_core,
cryptography), `google.cloud.storage` ~115 ms and `google.cloud.bigquery` ~90 ms, against a bare function's
~130 ms from process start to first answer (benchmarks/cold_start.py --breakdown). These few endpoints are
stable, documented JSON; `http.client` is already loaded.

One connection per thread and host, kept alive. A request that could be applied twice (a Firestore commit,
an upload: `idempotent=False`) is sent again only where the server cannot have applied it: a send that
failed on a kept-alive connection the server had closed, and the answers 429, 503 and ABORTED; it never
reuses a connection idle for more than 2 s. A read is also sent again after any 5xx or 408, or a connection
lost before its answer. Each is tried 3 times with a short backoff, then raised as TransientError, as are
network failures and answers that are not JSON, so the platform redelivers. A 401 fetches a new token once.
Other failures raise `ApiError` with the HTTP code and Google's status name (`ALREADY_EXISTS`,
`FAILED_PRECONDITION`, ...).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from shared.errors import TransientError

DEFAULT_TIMEOUT_S = 30.0
_ATTEMPTS = 3
_TRANSIENT_CODES = frozenset({408, 429, 500, 502, 503, 504})
_BIGQUERY_RETRY_REASONS = frozenset({"rateLimitExceeded", "backendError", "internalError", "badGateway"})
_TOKEN = re.compile(r"[\x21-\x7e]+")  # what an access token may hold and a header may carry
# A connection idle longer than this is not reused for a request that cannot be sent twice.
_IDLE_REUSE_S = 2.0
# On Cloud Run and Cloud Functions: the instance's service account token, no library needed. GCE_METADATA_HOST
# moves the server, as it does for google-auth.
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"


class ApiError(Exception):
    """A Google API answered with an error that retrying the same request does not fix."""

    def __init__(self, code: int, status: str, message: str) -> None:
        self.code = code
        self.status = status  # Google's canonical name: NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, ...
        self.message = message
        super().__init__(f"HTTP {code} {status}: {message}")


class NotFound(ApiError):
    pass


class AlreadyExists(ApiError):
    pass


class FailedPrecondition(ApiError):
    """A conditional write whose condition no longer holds (Firestore's updateTime, GCS's generation)."""


class RangeNotSatisfiable(ApiError):
    pass


def _error_body(body: bytes) -> dict[str, Any]:
    """Google's `{"error": {...}}`, also as the first item of a list (Firestore's streamed answers)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else {}


def _error_for(code: int, body: bytes) -> ApiError:
    error = _error_body(body)
    status = str(error.get("status") or "")
    message = str(error.get("message") or body[:300].decode("utf-8", "replace"))
    if code == 404 or status == "NOT_FOUND":
        return NotFound(code, status or "NOT_FOUND", message)
    if status == "ALREADY_EXISTS" or (code == 409 and not status):
        return AlreadyExists(code, status or "ALREADY_EXISTS", message)
    if status == "FAILED_PRECONDITION" or code == 412:
        return FailedPrecondition(code, status or "FAILED_PRECONDITION", message)
    if code == 416:
        return RangeNotSatisfiable(code, status or "OUT_OF_RANGE", message)
    return ApiError(code, status or "UNKNOWN", message)


def _is_transient(code: int, body: bytes, *, idempotent: bool) -> bool:
    """Worth sending again. A request that may have been applied (a Firestore commit, an upload) only on the
    answers that say it was not: 429, 503, ABORTED; a read also on any 5xx or 408. BigQuery says "rate
    limited" with a 403 and the reason, which its SDK retries too."""
    if code in (429, 503) or (idempotent and code in _TRANSIENT_CODES):
        return True
    if code in (403, 409):
        error = _error_body(body)
        reasons = {e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)}
        return error.get("status") == "ABORTED" or bool(reasons & _BIGQUERY_RETRY_REASONS)
    return False


def _lost(method: str, netloc: str, exc: BaseException) -> TransientError:
    """A request whose answer never came (network, timeout, a connection dropped): the platform redelivers."""
    return TransientError(f"{method} {netloc}: {type(exc).__name__}: {exc}")


def _bearer(token: str) -> str:
    """An Authorization value, refused (without echoing the token) when a header cannot carry it."""
    if not _TOKEN.fullmatch(token):
        raise ValueError("the access token holds characters an HTTP header cannot carry")
    return f"Bearer {token}"


class TokenSource(Protocol):
    def headers(self) -> dict[str, str]:
        """The credentials' headers (Authorization, and a quota project where one is set); none for none."""

    def invalidate(self) -> None:
        """Forget the token: the API refused it (401), so the next call fetches a new one."""


@dataclass(frozen=True)
class FixedToken:
    """Emulators: none, or the Firestore emulator's `owner` (which bypasses security rules, as the SDK does)."""

    value: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": _bearer(self.value)} if self.value else {}

    def invalidate(self) -> None:
        pass


class MetadataServerToken:
    """The service account token of a Cloud Run service or Cloud Function, refreshed a minute before expiry."""

    def __init__(self, http: JsonHttp | None = None) -> None:
        self._http = http or JsonHttp()
        self._url = f"http://{os.environ.get('GCE_METADATA_HOST') or 'metadata.google.internal'}{METADATA_TOKEN_PATH}"
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or time.monotonic() > self._expires - 60:
                answer = self._http.request("GET", self._url, headers={"Metadata-Flavor": "Google"}, auth=FixedToken())
                try:
                    token, expires_in = answer["access_token"], float(answer["expires_in"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise TransientError("the metadata server's token answer lacks access_token or expires_in") from exc
                self._token = _bearer(str(token))
                self._expires = time.monotonic() + expires_in
            return {"Authorization": self._token}

    def invalidate(self) -> None:
        with self._lock:
            self._token = None


class CredentialsToken:
    """Any google-auth credentials (ADC: a user's login, a key file): imported only where it is needed."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()
        self._refused = False

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._refused or not self._credentials.valid:
                from google.auth.transport.requests import Request

                self._credentials.refresh(Request())
                self._refused = False
            found = {"Authorization": _bearer(str(self._credentials.token))}
            quota_project = getattr(self._credentials, "quota_project_id", None)
            if quota_project:  # a user's ADC bills a quota project: the SDKs send it, Firestore may require it
                found["x-goog-user-project"] = str(quota_project)
            return found

    def invalidate(self) -> None:
        with self._lock:
            self._refused = True


def on_google_serverless() -> bool:
    """Cloud Run (K_SERVICE) and Cloud Functions gen2 set these; a key file named in the environment wins."""
    return bool(os.environ.get("K_SERVICE")) and not os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")


class JsonHttp:
    """Requests to absolute URLs; JSON bodies and answers unless told otherwise."""

    def __init__(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s
        self._local = threading.local()

    def _connection(self, scheme: str, netloc: str, *, fresh: bool) -> tuple[http.client.HTTPConnection, float]:
        """This thread's connection to the host, and how long it has been idle (0 for a new one)."""
        pool: dict[tuple[str, str], list[Any]] = self._local.__dict__.setdefault("pool", {})
        key = (scheme, netloc)
        if fresh and key in pool:
            pool.pop(key)[0].close()
        if key not in pool:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            pool[key] = [cls(netloc, timeout=self._timeout_s), time.monotonic()]
        entry = pool[key]
        idle = time.monotonic() - entry[1] if entry[0].sock is not None else 0.0
        entry[1] = time.monotonic()
        return entry[0], idle

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
        idempotent: bool | None = None,
    ) -> Any:
        """`body` is sent as JSON, `data` as is; the answer is parsed JSON, or bytes with `raw`. The answer's
        headers (names lowercased, `:status` its code) are put in `answer_headers` when given. `idempotent`
        (by default: GET) says whether a request the server may have applied can be sent again."""
        idempotent = method == "GET" if idempotent is None else idempotent
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if params:
            target += ("&" if parts.query else "?") + urlencode({k: v for k, v in params.items() if v is not None})
        sent = dict(headers or {})
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode()
            sent.setdefault("Content-Type", "application/json")
        refreshed = False
        attempt = 0
        while True:
            with_auth = {**sent, **auth.headers()}  # afresh each try: a new token may bring other headers
            code, answer, received = self._send(parts.scheme, parts.netloc, method, target, data, with_auth, idempotent)
            if code == 401 and not refreshed:  # a token revoked or expired early: once more with a new one
                auth.invalidate()
                refreshed = True
                continue
            attempt += 1
            if attempt >= _ATTEMPTS or not _is_transient(code, answer, idempotent=idempotent):
                break
            time.sleep(0.1 * 2 ** (attempt - 1) * (1 + random.random()))
        if _is_transient(code, answer, idempotent=True):  # not sent again here, or not any more: redeliver
            raise TransientError(f"{method} {parts.netloc}{parts.path}: HTTP {code}: {answer[:300]!r}")
        if code >= 300:
            raise _error_for(code, answer)
        if answer_headers is not None:
            answer_headers.update(received, **{":status": str(code)})
        if raw:
            return answer
        try:
            return json.loads(answer) if answer else {}
        except ValueError as exc:  # a proxy's HTML page, a truncated answer: not the API speaking
            kind = received.get("content-type", "no content type")
            what = f"{method} {parts.netloc}{parts.path}"
            raise TransientError(f"{what}: HTTP {code}, {len(answer)} bytes of {kind}, not JSON") from exc

    def _send(
        self,
        scheme: str,
        netloc: str,
        method: str,
        target: str,
        data: bytes | None,
        headers: dict[str, str],
        idempotent: bool,
    ) -> tuple[int, bytes, dict[str, str]]:
        for fresh in (False, True):
            connection, idle = self._connection(scheme, netloc, fresh=fresh)
            if not fresh and not idempotent and idle > _IDLE_REUSE_S:
                # A connection idle this long may have been closed by the server: a request we could not send
                # again must not find out on it.
                connection, idle = self._connection(scheme, netloc, fresh=True)
            reused = idle > 0
            try:
                connection.request(method, target, body=data, headers=headers)
            except (ConnectionError, http.client.HTTPException) as exc:
                connection.close()
                if reused and not fresh:
                    continue  # the server had closed the kept-alive connection; it got nothing: send again
                raise _lost(method, netloc, exc) from exc
            except OSError as exc:  # refused, unreachable, DNS, a timeout
                connection.close()
                raise _lost(method, netloc, exc) from exc
            try:
                response = connection.getresponse()
                answer = response.read()
            except (ConnectionError, http.client.HTTPException) as exc:
                connection.close()
                if reused and not fresh and idempotent:
                    continue  # most likely a kept-alive connection closed as we sent; safe to send again
                raise _lost(method, netloc, exc) from exc
            except OSError as exc:
                connection.close()
                raise _lost(method, netloc, exc) from exc
            received: dict[str, str] = {}
            for name, value in response.getheaders():  # a header sent twice (x-goog-hash) is one, joined
                name = name.lower()
                received[name] = f"{received[name]},{value}" if name in received else value
            return response.status, answer, received
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class GoogleApi:
    """One service's base URL and credentials over a shared JsonHttp."""

    base_url: str  # ends with "/"
    auth: TokenSource
    http: JsonHttp

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.http.request(method, self.base_url + path.lstrip("/"), auth=self.auth, **kwargs)

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """A listing's pages (GET), each asked for with the last one's `nextPageToken` until there is none."""
        token = None
        while True:
            page = self.call("GET", path, params={**params, "pageToken": token})
            yield page
            token = page.get("nextPageToken")
            if not token:
                return


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
