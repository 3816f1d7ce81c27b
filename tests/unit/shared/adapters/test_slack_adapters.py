"""Slack and secret adapters.

The webhook notifier is tested over real HTTP against a local incoming-webhook receiver
(tests/slack_receiver.py), so slack_sdk's own client, retry handlers and logging run as in production.
Secret Manager has no emulator: SecretManagerSecretSource is tested with a small stub client that
answers `access_secret_version` and raises the real google.api_core exceptions.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import SimpleNamespace

import pytest
from google.api_core import exceptions as google_errors
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.secrets import EnvSecretSource, SecretManagerSecretSource
from shared.adapters.slack_outbox import OutboxSlackNotifier, read_outbox
from shared.adapters.slack_webhook import WebhookSlackNotifier, validate_webhook_url
from shared.errors import ConfigError, MlopsEventsError, SlackRejectedError, TransientError
from shared.secret_values import redact
from tooling.localcloud.slack_receiver import SlackReceiver

PAYLOAD = {
    "text": "Budget ml-dev crossed 50%",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*50%*"}}],
}


@pytest.fixture
def slack():
    with SlackReceiver() as receiver:
        yield receiver


def notifier(url: str, **kwargs) -> WebhookSlackNotifier:
    # Small waits keep the file fast; Retry-After is honoured whatever these say.
    # The local receiver listens on 127.0.0.1: a URL the embedded and emulators profiles accept.
    kwargs = {"allow_local": True, "max_retries": 2, "backoff_s": 0.05, "timeout_s": 5.0, **kwargs}
    return WebhookSlackNotifier(url, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the webhook -------------------------------------------------------------------------------


def test_an_accepted_post_is_recorded_exactly_once(slack):
    # GIVEN a webhook that accepts everything
    # WHEN one payload is posted
    notifier(slack.url).post(PAYLOAD)
    # THEN Slack received it once, as sent
    assert slack.posts == [PAYLOAD]
    assert len(slack.requests) == 1
    assert slack.requests[0].headers["Content-Type"].startswith("application/json")


def test_a_rate_limit_is_waited_out_as_retry_after_says(slack):
    # GIVEN a webhook that answers 429 with Retry-After: 1 once
    slack.rate_limit_next(1, retry_after=1)
    # WHEN a payload is posted
    started = time.monotonic()
    notifier(slack.url).post(PAYLOAD)
    elapsed = time.monotonic() - started
    # THEN it went through on the second attempt, after waiting at least the second Slack asked for
    assert slack.posts == [PAYLOAD]
    assert [r.status for r in slack.requests] == [429, 200]
    assert slack.requests[1].at - slack.requests[0].at >= 1.0
    assert 1.0 <= elapsed < 15


def test_a_retry_after_beyond_the_budget_gives_up_at_once(slack):
    # GIVEN a webhook that asks to come back in a minute, and a post allowed 5 s of waiting
    slack.rate_limit_next(1, retry_after=60)
    started = time.monotonic()
    # WHEN a payload is posted
    with pytest.raises(TransientError, match="429") as raised:
        notifier(slack.url, budget_s=5).post(PAYLOAD)
    # THEN it did not block the function: the platform's redelivery is the retry
    assert time.monotonic() - started < 5
    assert "Retry-After 60" in str(raised.value)
    assert len(slack.requests) == 1
    assert slack.posts == []


def test_server_errors_are_retried_with_backoff(slack):
    # GIVEN a webhook that fails twice with 500
    slack.fail_next(2, status=500)
    # WHEN a payload is posted with two retries allowed
    notifier(slack.url, max_retries=2).post(PAYLOAD)
    # THEN the third attempt delivered it, once
    assert [r.status for r in slack.requests] == [500, 500, 200]
    assert slack.posts == [PAYLOAD]


def test_a_502_from_a_proxy_is_retried_too(slack):
    # GIVEN a 502 (slack_sdk's own handler retries only 500 and 503)
    slack.fail_next(1, status=502, body="<html>Bad Gateway</html>")
    # WHEN a payload is posted
    notifier(slack.url).post(PAYLOAD)
    # THEN it was retried and delivered
    assert [r.status for r in slack.requests] == [502, 200]
    assert slack.posts == [PAYLOAD]


def test_a_server_error_that_persists_is_transient(slack):
    # GIVEN a webhook failing with 500 on every attempt
    slack.fail_next(100, status=500)
    # WHEN a payload is posted with max_retries=2
    with pytest.raises(TransientError, match="HTTP 500"):
        notifier(slack.url, max_retries=2).post(PAYLOAD)
    # THEN it tried max_retries + 1 times and nothing was posted
    assert len(slack.requests) == 3
    assert slack.posts == []


def test_retries_of_every_kind_share_one_count(slack):
    # GIVEN a 429 then 500s: slack_sdk's handlers share the attempt counter
    slack.rate_limit_next(1, retry_after=0)
    slack.fail_next(100, status=503)
    # WHEN a payload is posted with max_retries=2
    with pytest.raises(TransientError):
        notifier(slack.url, max_retries=2).post(PAYLOAD)
    # THEN there were 3 attempts in all, not 3 per kind of failure
    assert [r.status for r in slack.requests] == [429, 503, 503]


@pytest.mark.parametrize(
    ("status", "body"), [(404, "no_service"), (403, "invalid_token"), (410, "channel_is_archived")]
)
def test_a_4xx_is_a_rejection_and_is_not_retried(slack, status, body):
    # GIVEN a webhook Slack no longer serves
    slack.reject_next(status=status, body=body)
    # WHEN a payload is posted
    with pytest.raises(SlackRejectedError) as raised:
        notifier(slack.url).post(PAYLOAD)
    # THEN the error names the status and Slack's reason, and the request was made once
    assert str(raised.value) == f"Slack rejected the webhook post: HTTP {status} {body}"
    assert len(slack.requests) == 1


def test_an_invalid_payload_is_a_rejection(slack):
    # GIVEN the receiver judging payloads as Slack does
    # WHEN a payload with neither text nor blocks is posted
    with pytest.raises(SlackRejectedError, match="400 no_text"):
        notifier(slack.url).post({"unfurl_links": False})
    # THEN nothing was posted
    assert slack.posts == []


def test_an_unreachable_webhook_is_transient():
    # GIVEN a URL on a port nobody listens on
    url = f"http://127.0.0.1:{free_port()}/services/T000/B000/unreachabletoken"
    started = time.monotonic()
    # WHEN a payload is posted
    with pytest.raises(TransientError, match="unreachable") as raised:
        notifier(url, max_retries=1).post(PAYLOAD)
    # THEN it gave up quickly, and the message does not carry the URL's secret part
    assert time.monotonic() - started < 10
    assert "unreachabletoken" not in str(raised.value)


def test_a_url_that_is_not_http_is_a_config_error_that_does_not_echo_it():
    # GIVEN a misconfigured webhook
    # WHEN the notifier is built
    with pytest.raises(ConfigError) as raised:
        WebhookSlackNotifier("hooks.slack.com/services/T1/B1/notaschemetoken")
    # THEN the message says what is wrong, not what the value was
    assert "notaschemetoken" not in str(raised.value)


# --- the webhook URL is validated when it is loaded ----------------------------------------------

GOOD = "https://hooks.slack.com/services/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"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (GOOD[:60] + "\t" + GOOD[60:], "contains whitespace: a tab"),
        (GOOD[:60] + "\n" + GOOD[60:], "contains whitespace: a line break"),
        (GOOD[:60] + " " + GOOD[60:], "contains whitespace: a space"),
        (GOOD[:60] + "\u00a0" + GOOD[60:], "contains whitespace"),
        (GOOD[:60] + "\x00" + GOOD[60:], "contains a control character (NUL)"),
        (GOOD[:60] + "\u200b" + GOOD[60:], "contains an invisible or unassigned character"),
        (GOOD + "%0A", "contains a percent-encoded control character or space (%0A)"),
        (GOOD[:60] + "é" + GOOD[60:], "contains non-ASCII characters"),
        (GOOD.replace("https", "http"), "hooks.slack.com is reached over https on port 443 only"),
        (GOOD.replace("/services/", "/service/"), "its path is not /services/<team>/<hook>/<token>"),
        (GOOD + "?x=1", "its path is not /services/<team>/<hook>/<token>"),
        (GOOD.replace("hooks.slack.com", "hooks.example.com"), "its host is not hooks.slack-gov.com or hooks"),
        (GOOD.replace("https://", "https://user:pw@"), "it carries credentials before its host"),
        ("http://127.0.0.1:8080/services/T000/B000/localtoken", "only the embedded and emulators profiles accept"),
    ],
)
def test_a_webhook_url_that_cannot_work_is_a_config_error_that_does_not_quote_it(url, why):
    # GIVEN a URL pasted with an odd character, or one that is no Slack webhook
    # WHEN the notifier is built
    with pytest.raises(ConfigError) as raised:
        WebhookSlackNotifier(url)
    # THEN the message names what is wrong, and no part of the URL's path
    message = str(raised.value)
    assert message.startswith("the Slack webhook URL is not a valid URL (") and why in message
    for part in ("T0AB12CD3", "B0EF45GH6", "Xy7wQ2mN8pL4", "kR1sT6vB9zC3", "localtoken", "pw@"):
        assert part not in message


def test_valid_urls_are_accepted_with_surrounding_whitespace_cut():
    assert validate_webhook_url(f"  {GOOD}\n") == GOOD
    assert validate_webhook_url(GOOD.replace("slack.com", "slack-gov.com"))
    assert validate_webhook_url("http://127.0.0.1:8080/services/T000/B000/tok", allow_local=True)
    assert validate_webhook_url("http://localhost:8080/anything", allow_local=True)
    assert validate_webhook_url("http://[::1]:8080/services/T/B/t", allow_local=True)
    with pytest.raises(ConfigError, match="empty"):
        validate_webhook_url(" \n")


@settings(max_examples=200, deadline=None)
@given(
    # No I, L, O or U: no token part can spell a word of the messages (URL, NUL, ASCII).
    token=st.text("ABCDEFGHJKMNPQRSTVWXYZ23456789", min_size=12, max_size=24),
    odd=st.characters(blacklist_categories=("Lu", "Ll", "Nd"), blacklist_characters="-_/"),
    at=st.integers(1, 11),
)
def test_any_odd_character_inside_the_token_is_refused_without_quoting_it(token, odd, at):
    # GIVEN a Slack webhook URL with any character a token never has, inside the token
    url = f"https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/{token[:at]}{odd}{token[at:]}"
    # WHEN it is validated THEN it is refused, and the message quotes neither the token nor the odd character
    with pytest.raises(ConfigError) as raised:
        validate_webhook_url(url)
    message = str(raised.value)
    assert token[:at] not in message or len(token[:at]) < 4
    assert token[at:] not in message or len(token[at:]) < 4
    assert "B0EF45GH6" not in message and url not in message


def test_deps_accept_the_local_receiver_outside_the_cloud_profile_only(tmp_path):
    from shared.config import Settings
    from shared.deps import Deps

    url = "http://127.0.0.1:8080/services/T000/B000/localtoken"
    for profile in ("embedded", "emulators"):
        built = Deps(Settings(profile=profile, state_dir=tmp_path, slack_webhook_url=url))._build_notifier()
        assert isinstance(built, WebhookSlackNotifier)
    with pytest.raises(ConfigError, match="only the embedded and emulators profiles"):
        Deps(Settings(profile="cloud", state_dir=tmp_path, slack_webhook_url=url))._build_notifier()


class RaisingClient:
    """A WebhookClient whose send fails as the HTTP stack does, quoting the URL or its path."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def send_dict(self, body):
        raise self.error


def library_errors(url: str) -> list[tuple[Exception, type[Exception], str]]:
    import http.client
    import urllib.error

    from slack_sdk.errors import SlackRequestError

    path = url.split("127.0.0.1:9", 1)[1]
    return [
        (http.client.InvalidURL(f"URL can't contain control characters. {path!r}"), ConfigError, "InvalidURL"),
        (SlackRequestError(f"Invalid URL detected: {url}"), ConfigError, "SlackRequestError"),
        (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"), url), TransientError, "refused"),
        (TimeoutError(f"timed out posting to {url}"), TransientError, "TimeoutError (timed out)"),
        (http.client.RemoteDisconnected(f"{url} closed"), TransientError, "RemoteDisconnected"),
        (UnicodeEncodeError("ascii", url, 5, 6, "ordinal not in range"), ConfigError, "UnicodeEncodeError"),
        (RuntimeError(f"unexpected: {url}"), MlopsEventsError, "RuntimeError"),
    ]


@pytest.mark.parametrize("case", range(7))
def test_library_errors_become_ours_naming_their_class_never_the_url(case):
    # GIVEN a client that fails the way the HTTP stack does, quoting the URL
    url = "http://127.0.0.1:9/services/T0AB12CD3/B0EF45GH6/Xy7wQ2mN8pL4kR1sT6vB9zC3"
    error, expected, named = library_errors(url)[case]
    slack_notifier = WebhookSlackNotifier(url, client=RaisingClient(error), allow_local=True)
    # WHEN a payload is posted
    with pytest.raises(expected) as raised:
        slack_notifier.post(PAYLOAD)
    # THEN the error is ours, names the failure, quotes no part of the URL, and carries no cause that does
    message = str(raised.value)
    assert named in message
    for part in ("/services/", "T0AB12CD3", "B0EF45GH6", "Xy7wQ2mN8pL4kR1sT6vB9zC3"):
        assert part not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


# --- the webhook URL is a secret ---------------------------------------------------------------

SLACK_LOGGERS = ("slack_sdk", "slack_sdk.webhook.client", "shared.adapters.slack_webhook")


def test_the_webhook_url_appears_in_no_message_repr_or_log(slack, caplog):
    # GIVEN every logger involved at DEBUG, slack_sdk's included
    caplog.set_level(logging.DEBUG)
    for name in SLACK_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    secret_parts = (slack.url, slack.path, slack.token)
    slack_notifier = notifier(slack.url, max_retries=1)
    unreachable_url = f"http://127.0.0.1:{free_port()}{slack.path}"
    messages = [repr(slack_notifier), str(slack_notifier)]
    # WHEN posts go through a retry, a rejection, an outage, an unreachable host and a 200 that is not "ok"
    slack.fail_next(1, status=500)
    slack_notifier.post(PAYLOAD)
    slack.reject_next(status=404, body=f"no_service for {slack.url}")
    slack.fail_next(2, status=503, body=slack.path)
    with pytest.raises(SlackRejectedError) as rejected:
        slack_notifier.post(PAYLOAD)
    with pytest.raises(TransientError) as failed:
        slack_notifier.post(PAYLOAD)
    messages += [str(rejected.value), str(failed.value)]
    with pytest.raises(TransientError) as raised:
        notifier(unreachable_url, max_retries=1).post(PAYLOAD)
    messages.append(str(raised.value))
    # THEN slack_sdk did log (the request at DEBUG, the retries at INFO), with the URL cut to its host
    sdk_lines = [r.getMessage() for r in caplog.records if r.name == "shared.adapters.slack_webhook.sdk"]
    assert any("Sending a request - url: http://127.0.0.1" in line for line in sdk_lines)
    assert any("retry" in line.lower() for line in sdk_lines)
    # AND no message, repr or log line carries the URL or its secret part
    log_text = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records)])
    for text in [*messages, log_text]:
        for part in secret_parts:
            assert part not in text
    assert "no_service for http://127.0.0.1" in messages[2]


def test_slack_sdk_logs_the_url_itself_which_is_why_the_client_gets_our_logger(slack, caplog):
    # GIVEN a bare WebhookClient, with slack_sdk's own logger at DEBUG
    from slack_sdk.webhook import WebhookClient

    caplog.set_level(logging.DEBUG, logger="slack_sdk")
    # WHEN it posts
    WebhookClient(slack.url).send_dict(PAYLOAD)
    # THEN the full URL is in its log: never hand a webhook URL to a client with the default logger
    assert any(slack.token in r.getMessage() for r in caplog.records if r.name.startswith("slack_sdk"))


def test_a_notifier_registers_its_url_as_a_secret():
    url = "https://hooks.slack.com/services/T0AAA/B0BBB/abcdefghijklmnop"
    WebhookSlackNotifier(url)
    text = f"POST {url} failed; token abcdefghijklmnop; path /services/T0AAA/B0BBB/abcdefghijklmnop"
    assert redact(text) == "POST https://hooks.slack.com/[redacted] failed; token [redacted]; path /[redacted]"
    assert redact("nothing here") == "nothing here"


# --- the outbox --------------------------------------------------------------------------------


def test_the_outbox_appends_one_line_per_payload(tmp_path):
    # GIVEN an outbox in a state dir that does not exist yet
    path = tmp_path / "state" / "slack-outbox.jsonl"
    outbox = OutboxSlackNotifier(path)
    assert read_outbox(path) == []
    # WHEN two payloads are posted
    outbox.post(PAYLOAD)
    outbox.post({"text": "second, with ünïcode and a\nnewline"})
    # THEN they are two JSON lines, in order
    assert path.read_text(encoding="utf-8").count("\n") == 2
    assert read_outbox(path) == [PAYLOAD, {"text": "second, with ünïcode and a\nnewline"}]


def test_concurrent_appends_never_interleave(tmp_path):
    # GIVEN 8 threads, each with its own notifier on the same file, and payloads far larger than a pipe buffer
    path = tmp_path / "slack-outbox.jsonl"
    start = threading.Barrier(8)

    def post(i: int) -> None:
        start.wait()
        OutboxSlackNotifier(path).post({"text": f"alert {i}", "filler": str(i) * 200_000})

    # WHEN they all post at once
    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN the file holds 8 whole, parseable lines
    lines = path.read_text().splitlines()
    assert len(lines) == 8
    assert sorted(p["text"] for p in read_outbox(path)) == [f"alert {i}" for i in range(8)]


# --- secrets -----------------------------------------------------------------------------------


def test_env_secret_source_reads_the_environment():
    source = EnvSecretSource({"SLACK_WEBHOOK_URL": " https://hooks.slack.com/x \n", "EMPTY": ""})
    assert source.get("SLACK_WEBHOOK_URL") == "https://hooks.slack.com/x"
    assert source.get("EMPTY") is None
    assert source.get("MISSING") is None


def test_env_secret_source_defaults_to_the_process_environment(monkeypatch):
    monkeypatch.setenv("MLOPS_EVENTS_TEST_SECRET", "s3cret")
    assert EnvSecretSource().get("MLOPS_EVENTS_TEST_SECRET") == "s3cret"


class StubSecretManager:
    """Answers access_secret_version like SecretManagerServiceClient does, from a dict of version names."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.calls: list[str] = []
        self.error: Exception | None = None

    def access_secret_version(self, request: dict) -> SimpleNamespace:
        name = request["name"]
        self.calls.append(name)
        if self.error is not None:
            raise self.error
        if name not in self.values:
            raise google_errors.NotFound(f"Secret [{name}] not found or has no versions.")
        return SimpleNamespace(name=name, payload=SimpleNamespace(data=self.values[name].encode("utf-8")))


LATEST = "projects/p1/secrets/slack-webhook/versions/latest"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def manager():
    return StubSecretManager(
        {LATEST: "https://hooks.slack.com/services/T/B/new\n", "projects/p2/secrets/s/versions/3": "v3"}
    )


def test_a_short_secret_id_reads_the_latest_version_of_the_project(manager):
    # GIVEN a secret id of project p1
    source = SecretManagerSecretSource(manager, "p1")
    # WHEN it is read
    # THEN its latest version is accessed, decoded and stripped
    assert source.get("slack-webhook") == "https://hooks.slack.com/services/T/B/new"
    assert manager.calls == [LATEST]


def test_a_full_resource_name_is_used_as_given(manager):
    source = SecretManagerSecretSource(manager, "p1")
    assert source.get("projects/p2/secrets/s/versions/3") == "v3"
    assert source.get("projects/p1/secrets/slack-webhook") == "https://hooks.slack.com/services/T/B/new"
    assert manager.calls == ["projects/p2/secrets/s/versions/3", LATEST]


def test_a_missing_secret_is_none(manager):
    assert SecretManagerSecretSource(manager, "p1").get("nope") is None


def test_values_are_cached_for_five_minutes(manager):
    # GIVEN a source on a clock we move
    clock = FakeClock()
    source = SecretManagerSecretSource(manager, "p1", clock=clock)
    source.get("slack-webhook")
    # WHEN the secret rotates and is read again within five minutes
    manager.values[LATEST] = "rotated"
    clock.now += 299
    # THEN the cached value answers, without a call
    assert source.get("slack-webhook") == "https://hooks.slack.com/services/T/B/new"
    assert len(manager.calls) == 1
    # WHEN five minutes have passed
    clock.now += 2
    # THEN the new value is read
    assert source.get("slack-webhook") == "rotated"
    assert len(manager.calls) == 2


def test_the_cache_is_per_instance(manager):
    SecretManagerSecretSource(manager, "p1").get("slack-webhook")
    SecretManagerSecretSource(manager, "p1").get("slack-webhook")
    assert len(manager.calls) == 2


def test_an_unavailable_secret_manager_is_transient(manager):
    manager.error = google_errors.ServiceUnavailable("connection reset")
    with pytest.raises(TransientError, match="ServiceUnavailable"):
        SecretManagerSecretSource(manager, "p1").get("slack-webhook")


def test_a_permission_problem_raises_as_it_is(manager):
    # GIVEN a service account without secretAccessor
    manager.error = google_errors.PermissionDenied(f"Permission denied on resource {LATEST}")
    source = SecretManagerSecretSource(manager, "p1")
    # WHEN the secret is read THEN it is a configuration problem, not a retry, and not cached
    with pytest.raises(google_errors.PermissionDenied):
        source.get("slack-webhook")
    manager.error = None
    assert source.get("slack-webhook") == "https://hooks.slack.com/services/T/B/new"
