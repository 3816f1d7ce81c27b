"""SlackNotifier on a Slack incoming webhook, through slack_sdk's WebhookClient and its own retry handlers.

The webhook URL is a credential (anyone holding it can post to the channel): it never appears in a message,
a log line or a repr. It is registered with shared.secret_values when the notifier is built, so every log
handler cuts it out in any shape; and it is validated then (https://hooks.slack.com, or a local receiver
outside the cloud profile), so a URL pasted with a line break is a clear ConfigError before any request,
not an http.client error that quotes it. The HTTP library's exceptions are never interpolated: what is
raised names the failure's class. slack_sdk itself logs the URL (DEBUG "Sending a request - url: ...", at
INFO for every retry), so the client gets a logger of ours whose filter cuts the path out of every URL.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import re
import threading
import time
import unicodedata
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.errors import ConfigError, MlopsEventsError, SlackRejectedError, TransientError
from shared.secret_values import REDACTED, redact, remember_secret

if TYPE_CHECKING:
    from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState
    from slack_sdk.webhook import WebhookClient

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_RETRIES = 3
# A function has a deadline of its own; waiting longer than this for Slack is better spent redelivering.
DEFAULT_BUDGET_S = 30.0
DEFAULT_BACKOFF_S = 0.5

SLACK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
_SLACK_PATH = re.compile(r"/(services|workflows|triggers)(/[A-Za-z0-9_-]+){2,}\Z")
_LOCAL_HOSTS = frozenset({"localhost", "localhost.localdomain"})
_ENCODED_CONTROL = re.compile(r"%(?:[01][0-9A-Fa-f]|20|7[Ff])")
_URL = re.compile(r"(?i)\b(https?://[^\s/'\"<>]+)/[^\s'\"<>]*")


def _invalid(why: str) -> ConfigError:
    return ConfigError(f"the Slack webhook URL is not a valid URL ({why})")  # never echo it: it is a secret


def _odd_character(url: str) -> str | None:
    """What is wrong with the URL's characters, named without quoting any of them."""
    for ch in url:
        if ch == "\t":
            return "contains whitespace: a tab"
        if ch in "\r\n\u2028\u2029\x85":
            return "contains whitespace: a line break"
        if ch == " ":
            return "contains whitespace: a space"
        if ch.isspace():
            return "contains whitespace"
        category = unicodedata.category(ch)
        if category == "Cc":
            return "contains a control character" + (" (NUL)" if ch == "\x00" else "")
        if category in ("Cf", "Co", "Cs", "Cn"):
            return "contains an invisible or unassigned character"
        if not ch.isascii():
            return "contains non-ASCII characters"
    encoded = _ENCODED_CONTROL.search(url)
    if encoded:  # a line break pasted into the secret and then URL-encoded by whoever stored it
        return f"contains a percent-encoded control character or space ({encoded.group(0).upper()})"
    return None


def _is_local(host: str) -> bool:
    if host in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_webhook_url(url: str | None, *, allow_local: bool = False) -> str:
    """`url` without surrounding whitespace, if it can be a Slack incoming webhook: https on hooks.slack.com
    with a /services/... path, or (`allow_local`: the embedded and emulators profiles) any http(s) URL on a
    loopback host, where the local Slack receiver listens. Else ConfigError naming what is wrong, not the URL."""
    url = (url or "").strip()
    if not url:
        raise ConfigError("the Slack webhook URL is empty")
    odd = _odd_character(url)
    if odd:
        raise _invalid(odd)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:  # an unclosed [ or a port that is no number
        raise _invalid("its host or port cannot be parsed") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError("the Slack webhook URL is not an http(s) URL")
    if "@" in parts.netloc:
        raise _invalid("it carries credentials before its host")
    if host in SLACK_HOSTS:
        if parts.scheme != "https" or port not in (None, 443):
            raise _invalid(f"{host} is reached over https on port 443 only")
        if parts.query or parts.fragment or not _SLACK_PATH.fullmatch(parts.path):
            raise _invalid(f"its path is not /services/<team>/<hook>/<token> on {host}")
        return url
    if _is_local(host):
        if not allow_local:
            raise _invalid("a local receiver's URL, which only the embedded and emulators profiles accept")
        return url
    raise _invalid(f"its host is not {' or '.join(sorted(SLACK_HOSTS))}, nor a local receiver")


def redact_urls(text: str) -> str:
    """Every http(s) URL in `text` cut to its host: webhook URLs carry their secret in the path."""
    return _URL.sub(rf"\1/{REDACTED}", text)


class _RedactUrls(logging.Filter):
    """Cuts every URL to its host, and removes every remembered secret wherever else it shows (a body)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(redact_urls(message))  # URLs first: keeps the host, which helps reading the log
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


# The logger handed to WebhookClient. Its level stays NOTSET: WebhookClient then logs its retries at INFO,
# which is worth seeing; the filter makes that safe (a filter on a logger applies to records logged to it).
_SDK_LOG = logging.getLogger(f"{__name__}.sdk")
_SDK_LOG.addFilter(_RedactUrls())


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
        if isinstance(handler, _Backoff):  # Retry-After decides the rate limit's wait
            handler.backoff_s = backoff_s
        handlers.append(handler)
    return handlers


def _excerpt(body: str | None, limit: int = 200) -> str:
    text = " ".join((body or "").split())
    return text if len(text) <= limit else text[:limit] + "..."


def _describe(exc: BaseException) -> str:
    """A library exception named by its class, and for an OSError by its errno's text: never its message,
    which may quote the request (http.client.InvalidURL quotes the path, SlackRequestError the URL)."""
    reason = getattr(exc, "reason", None)  # URLError wraps the socket error
    if isinstance(reason, BaseException):
        return f"{type(exc).__name__} ({_describe(reason)})"
    if isinstance(exc, TimeoutError):
        return f"{type(exc).__name__} (timed out)"
    if isinstance(exc, OSError) and isinstance(exc.strerror, str):
        return f"{type(exc).__name__} ({exc.strerror})"
    return type(exc).__name__


class WebhookSlackNotifier:
    """Posts to a Slack incoming webhook; returns once Slack answered 2xx `ok`.

    Retries (429 after Retry-After, 5xx and connection failures with backoff) are slack_sdk's, at most
    `max_retries` in all (its handlers share one attempt counter) and within `budget_s` of waiting; the
    worst case is then `budget_s` plus one `timeout_s`. Past that: TransientError, and the platform
    redelivers. A `client` passed in is used as it is, with its own retry handlers and logger.
    `allow_local`: a URL on a loopback host (the local Slack receiver) is accepted, outside the cloud profile.
    """

    def __init__(
        self,
        url: str,
        *,
        client: WebhookClient | None = None,
        allow_local: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        budget_s: float = DEFAULT_BUDGET_S,
        backoff_s: float = DEFAULT_BACKOFF_S,
    ) -> None:
        remember_secret(url)  # first: whatever goes wrong below, no log line shows it
        url = validate_webhook_url(url, allow_local=allow_local)
        parts = urlsplit(url)
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

                self._client = WebhookClient(
                    self._url,
                    timeout=self._timeout_s,  # type: ignore[arg-type]  # urllib takes a float
                    logger=_SDK_LOG,
                    retry_handlers=_retry_handlers(self._max_retries, self._budget, self._backoff_s),
                )
            return self._client

    def post(self, payload: dict[str, Any]) -> None:
        client = self._webhook()
        self._budget.deadline = time.monotonic() + self._budget_s
        # `from None` everywhere below: a cause may carry the URL (URLError.filename, InvalidURL's text,
        # SlackRequestError's), and a logged traceback prints the cause.
        try:
            response = client.send_dict(payload)
        except OSError as exc:  # URLError (refused, DNS, TLS), timeouts, resets, after slack_sdk's retries
            raise TransientError(f"Slack webhook unreachable: {_describe(exc)}") from None
        except Exception as exc:
            from http.client import HTTPException, InvalidURL

            from slack_sdk.errors import SlackRequestError

            if isinstance(exc, InvalidURL):  # validation should have caught it; http.client's text quotes it
                raise _invalid(f"the HTTP client refused it: {type(exc).__name__}") from None
            if isinstance(exc, HTTPException):  # a connection cut mid-response
                raise TransientError(f"Slack webhook failed: {_describe(exc)}") from None
            if isinstance(exc, SlackRequestError):  # e.g. "Invalid URL detected: <the url>"
                raise ConfigError(f"Slack webhook client refused the request: {type(exc).__name__}") from None
            if isinstance(exc, UnicodeError | ValueError):  # a URL or header http.client cannot encode
                raise _invalid(f"the HTTP client could not send it: {type(exc).__name__}") from None
            raise MlopsEventsError(f"Slack webhook post failed: {type(exc).__name__}") from None
        finally:
            self._budget.deadline = None

        status, body = response.status_code, _excerpt(redact(redact_urls(response.body or "")))
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
