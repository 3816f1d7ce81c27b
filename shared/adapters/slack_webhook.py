"""SlackNotifier on a Slack incoming webhook, through slack_sdk's WebhookClient and its own retry handlers.

The webhook URL is a credential (anyone holding it can post to the channel): it never appears in a message,
a log line or a repr. slack_sdk itself logs it (DEBUG "Sending a request - url: ...", and at INFO for
every retry), so the client gets a logger of ours whose filter cuts the path out of every URL.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.errors import ConfigError, SlackRejectedError, TransientError

if TYPE_CHECKING:
    from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState
    from slack_sdk.webhook import WebhookClient

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_RETRIES = 3
# A function has a deadline of its own; waiting longer than this for Slack is better spent redelivering.
DEFAULT_BUDGET_S = 30.0
DEFAULT_BACKOFF_S = 0.5

REDACTED = "***"
_URL = re.compile(r"(?i)\b(https?://[^\s/'\"<>]+)/[^\s'\"<>]*")


def redact(text: str, secret: str | None) -> str:
    """`text` without `secret`; for a URL also without its path, whose last segment is the actual token."""
    if not secret:
        return text
    parts = urlsplit(secret)
    candidates = {secret}
    if parts.scheme and parts.netloc:
        candidates.add(parts.path + (f"?{parts.query}" if parts.query else ""))
        candidates.add(parts.path)
        segments = [s for s in parts.path.split("/") if s]
        if segments and len(segments[-1]) >= 8:
            candidates.add(segments[-1])
    for candidate in sorted((c for c in candidates if len(c) > 1), key=len, reverse=True):
        text = text.replace(candidate, REDACTED)
    return text


def redact_urls(text: str) -> str:
    """Every http(s) URL in `text` cut to its host: webhook URLs carry their secret in the path."""
    return _URL.sub(rf"\1/{REDACTED}", text)


class _RedactUrls(logging.Filter):
    """Cuts every URL to its host, and removes the webhook URLs in use wherever else they show (a body)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add_secret(self, secret: str) -> None:
        self._secrets = self._secrets | {secret}  # swapped whole: filter() may be iterating on another thread

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_urls(message)  # first: keeps the host, which helps reading the log
        for secret in self._secrets:
            redacted = redact(redacted, secret)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


# The logger handed to WebhookClient. Its level stays NOTSET: WebhookClient then logs its retries at INFO,
# which is worth seeing; the filter makes that safe (a filter on a logger applies to records logged to it).
_SDK_LOG = logging.getLogger(f"{__name__}.sdk")
_SDK_LOG_FILTER = _RedactUrls()
_SDK_LOG.addFilter(_SDK_LOG_FILTER)


class _Budget(threading.local):
    """The deadline of the post running on this thread: the handlers are shared, the posts may be concurrent."""

    deadline: float | None = None

    def remaining(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()


class _WithinBudget:
    """Mixin for slack_sdk RetryHandlers: retry only when the wait before the next attempt fits the budget.

    slack_sdk's handlers sleep as long as they are told (RateLimitErrorRetryHandler sleeps any Retry-After,
    plus up to 1 s of jitter); a wait that overruns the budget ends the loop instead, and the caller turns
    the last response into TransientError so the platform redelivers later.
    """

    budget: _Budget

    def can_retry(self, *, state: RetryState, request: HttpRequest, response=None, error=None) -> bool:
        allowed = super().can_retry(state=state, request=request, response=response, error=error)  # type: ignore[misc]
        return allowed and self._least_wait(state, response) < self.budget.remaining()

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest, response=None, error=None) -> None:
        state.next_attempt_requested = True
        time.sleep(max(0.0, min(self._wait(state, response), self.budget.remaining())))
        state.increment_current_attempt()

    def _least_wait(self, state: RetryState, response: HttpResponse | None) -> float:
        raise NotImplementedError

    def _wait(self, state: RetryState, response: HttpResponse | None) -> float:
        raise NotImplementedError


class _Backoff(_WithinBudget):
    backoff_s: float

    def _least_wait(self, state: RetryState, response: HttpResponse | None) -> float:
        return self.backoff_s * 2**state.current_attempt

    def _wait(self, state: RetryState, response: HttpResponse | None) -> float:
        least = self._least_wait(state, response)
        return least + random.uniform(0, least)


def _retry_after(response: HttpResponse | None) -> float:
    """Slack sends whole seconds; slack_sdk's int() would crash on anything else, we fall back to 1 s."""
    for key, values in (response.headers if response is not None else {}).items():
        if key.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return 1.0
    return 1.0


def _retry_handlers(max_retries: int, budget: _Budget, backoff_s: float) -> list[RetryHandler]:
    # slack_sdk imported here: only a function that posts to a real webhook pays for it.
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )

    class RateLimitWithinBudget(_WithinBudget, RateLimitErrorRetryHandler):
        """Waits Retry-After (+ up to 1 s jitter, as slack_sdk does) if that fits the budget."""

        def _least_wait(self, state: RetryState, response: HttpResponse | None) -> float:
            return _retry_after(response)

        def _wait(self, state: RetryState, response: HttpResponse | None) -> float:
            return _retry_after(response) + random.random()

    class ServerErrorWithinBudget(_Backoff, ServerErrorRetryHandler):
        """slack_sdk retries 500 and 503 only; a 502 or 504 from a proxy on the way is as transient."""

        def _can_retry(self, *, state, request, response=None, error=None) -> bool:
            return response is not None and 500 <= response.status_code < 600

    class ConnectionErrorWithinBudget(_Backoff, ConnectionErrorRetryHandler):
        """URLError (refused, DNS, TLS), reset, remote disconnected. A read timeout is not retried here: the
        post may have gone through, and the redelivery is the retry."""

    handlers: list[RetryHandler] = []
    for cls in (RateLimitWithinBudget, ServerErrorWithinBudget, ConnectionErrorWithinBudget):
        handler = cls(max_retry_count=max_retries)
        handler.budget = budget
        handler.backoff_s = backoff_s
        handlers.append(handler)
    return handlers


def _excerpt(body: str | None, limit: int = 200) -> str:
    text = " ".join((body or "").split())
    return text if len(text) <= limit else text[:limit] + "..."


class WebhookSlackNotifier:
    """Posts to a Slack incoming webhook; returns once Slack answered 2xx `ok`.

    Retries (429 after Retry-After, 5xx and connection failures with backoff) are slack_sdk's, at most
    `max_retries` in all (its handlers share one attempt counter) and within `budget_s` of waiting; the
    worst case is then `budget_s` plus one `timeout_s`. Past that: TransientError, and the platform
    redelivers. A `client` passed in is used as it is, with its own retry handlers and logger.
    """

    def __init__(
        self,
        url: str,
        *,
        client: WebhookClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        budget_s: float = DEFAULT_BUDGET_S,
        backoff_s: float = DEFAULT_BACKOFF_S,
    ) -> None:
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("the Slack webhook URL is not an http(s) URL")  # never echo it: it is a secret
        self._url = url
        # For the repr: the origin only (a netloc may carry credentials, the path carries the token).
        self._origin = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self._client = client
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._budget_s = budget_s
        self._backoff_s = backoff_s
        self._budget = _Budget()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url='{self._origin}/{REDACTED}', timeout_s={self._timeout_s}, "
            f"max_retries={self._max_retries}, budget_s={self._budget_s})"
        )

    def _webhook(self) -> WebhookClient:
        with self._lock:
            if self._client is None:
                from slack_sdk.webhook import WebhookClient

                _SDK_LOG_FILTER.add_secret(self._url)
                self._client = WebhookClient(
                    self._url,
                    timeout=self._timeout_s,  # type: ignore[arg-type]  # urllib takes a float
                    logger=_SDK_LOG,
                    retry_handlers=_retry_handlers(self._max_retries, self._budget, self._backoff_s),
                )
            return self._client

    def _redact(self, text: str) -> str:
        return redact(redact_urls(text), self._url)

    def post(self, payload: dict[str, Any]) -> None:
        client = self._webhook()
        self._budget.deadline = time.monotonic() + self._budget_s
        try:
            response = client.send_dict(payload)
        except OSError as exc:  # URLError (refused, DNS, TLS), timeouts, resets, after slack_sdk's retries
            # `from None`: the cause may carry the URL (URLError.filename, SlackRequestError's text), and a
            # logged traceback prints the cause.
            raise TransientError(f"Slack webhook unreachable: {type(exc).__name__}: {self._redact(str(exc))}") from None
        except Exception as exc:
            from http.client import HTTPException

            from slack_sdk.errors import SlackRequestError

            if isinstance(exc, HTTPException):  # a connection cut mid-response
                raise TransientError(f"Slack webhook failed: {type(exc).__name__}: {self._redact(str(exc))}") from None
            if isinstance(exc, SlackRequestError):  # e.g. "Invalid URL detected: <the url>"
                raise ConfigError(f"Slack webhook client: {self._redact(str(exc))}") from None
            raise
        finally:
            self._budget.deadline = None

        status, body = response.status_code, _excerpt(self._redact(response.body or ""))
        if 200 <= status < 300:
            if body != "ok":
                log.warning("Slack webhook answered HTTP %s %r instead of 'ok'; taken as accepted", status, body)
            return
        if status == 429:
            retry_after = {k.lower(): v for k, v in (response.headers or {}).items()}.get("retry-after")
            raise TransientError(f"Slack rate limited the webhook: HTTP 429, Retry-After {retry_after} s")
        if status >= 500 or status == 408:
            raise TransientError(f"Slack webhook failed: HTTP {status} {body}".rstrip())
        # 4xx (no_service, invalid_token, channel_is_archived, invalid_payload...) or an unexpected redirect.
        raise SlackRejectedError(f"Slack rejected the webhook post: HTTP {status} {body}".rstrip())
