"""shared.secret_values: the secrets a process loaded are cut out of every log record, in every shape.

The shapes are the ones a secret takes on its way to a log: raw, percent-encoded, Python's repr (a tab as
\\t), JSON-escaped, a repr inside a JSON line, and for a webhook URL its path and each of its segments.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import traceback
import urllib.request
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.errors import EventParseError, TransientError
from shared.log import JsonFormatter, configure_logging
from shared.runtime import run_event
from shared.secret_values import (
    REDACTED,
    RedactingStream,
    RedactSecrets,
    forget_secrets,
    install_redaction,
    redact,
    redact_record,
    remember_secret,
    scrub_exception,
    shapes,
)

TOKEN = "Xy7wQ2mN8pL4kR1sT6vB9zC3"
URL = f"https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/{TOKEN[:12]}\t{TOKEN[12:]}"  # pasted with a tab
PATH = f"/services/T0AB12CD3/B0EF45GH6/{TOKEN[:12]}\t{TOKEN[12:]}"


def every_shape(value: str) -> list[str]:
    """What must show nowhere: the value and its path as they come, escaped, encoded; the token's parts."""
    forms = [value, PATH, repr(value), repr(PATH), json.dumps(value), json.dumps(repr(PATH)), quote(value)]
    forms += [quote(PATH), value.replace("\t", "%09"), TOKEN[:12], TOKEN[12:], "T0AB12CD3", "B0EF45GH6"]
    return forms


def assert_clean(text: str, value: str = URL) -> None:
    for form in every_shape(value):
        assert form not in text, f"{form!r} leaked into {text[:300]!r}"


class _WithExtras(logging.Formatter):
    """Shows a record's extra fields too, as structured handlers (Cloud Logging's, powertools') do."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in vars(record).items() if k in ("fields", "response", "request")}
        return super().format(record) + (f" {json.dumps(extras, default=str)}" if extras else "")


@pytest.fixture
def secret() -> str:
    remember_secret(URL)
    return URL


@pytest.fixture
def captured() -> io.StringIO:
    """A plain handler on the root logger, as an operator's or a framework's would be."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_WithExtras("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    install_redaction()
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


# --- shapes ------------------------------------------------------------------------------------------------


def test_each_shape_of_a_webhook_url_is_redacted(secret):
    # GIVEN a webhook URL pasted with a tab, remembered as a secret
    # WHEN any of its shapes shows in a text
    for form in every_shape(secret):
        # THEN that shape is gone
        text = redact(f"before {form} after")
        assert_clean(text)
        assert REDACTED in text and text.startswith("before ") and text.endswith(" after")
    # AND the host stays readable
    assert redact(f"POST {secret}") == f"POST https://hooks.slack.com/{REDACTED}"


def test_what_http_client_says_about_it_is_redacted(secret):
    # GIVEN the real error http.client raises for a URL with a control character (it quotes the path)
    with pytest.raises(http.client.InvalidURL) as raised:
        urllib.request.urlopen(secret.replace("https://", "http://").replace("hooks.slack.com", "127.0.0.1:9"))
    assert TOKEN[:12] in str(raised.value)
    # WHEN it is redacted THEN neither the path nor the token is left
    assert_clean(redact(str(raised.value)))
    assert_clean(redact(repr(raised.value)))
    assert_clean(redact(json.dumps({"detail": str(raised.value)})))


def test_short_values_are_not_secrets_and_do_not_cut_words():
    remember_secret("abc", "", None)
    assert redact("abc abcdef") == "abc abcdef"


def test_percent_escapes_match_in_either_case():
    remember_secret("https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/token%0a")
    assert REDACTED in redact("path /services/T0AB12CD3/B0EF45GH6/token%0A")
    assert "token" not in redact("path services/T0AB12CD3/B0EF45GH6/token%0A")


def test_forgetting_clears_the_registry(secret):
    forget_secrets()
    assert redact(secret) == secret


_ODD = st.sampled_from(["\t", "\n", "\r\n", " ", "\x00", "\u2028", "\xa0", "é", "€", "%0A", "%09", "\\", '"', "'"])


@st.composite
def secrets_with_odd_characters(draw) -> str:
    token = draw(st.text("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", min_size=16, max_size=24))
    cut = draw(st.integers(1, len(token) - 1))
    odd = draw(_ODD)
    return f"https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/{token[:cut]}{odd}{token[cut:]}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=secrets_with_odd_characters(), context=st.sampled_from(["", "x", " ", "'", '"', "\n", "=", "/"]))
def test_no_shape_survives_in_any_context(value, context):
    # GIVEN a remembered webhook URL with an odd character inside its token
    forget_secrets()
    remember_secret(value)
    token = value.rsplit("/", 1)[1]
    # WHEN any of its shapes is quoted anywhere in a line
    for form in shapes(value) | {repr(value), json.dumps(value), json.dumps(repr(value)), quote(token, safe="")}:
        text = redact(f"a{context}{form}{context}b")
        # THEN no shape of the value, its path or its token is left
        for leak in (value, token, repr(token)[1:-1], json.dumps(token)[1:-1], quote(token, safe="")):
            assert leak not in text


# --- the filter on records ---------------------------------------------------------------------------------


def make_record(msg, args=(), exc_info=None, **extra) -> logging.LogRecord:
    record = logging.LogRecord("test", logging.ERROR, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_a_record_with_the_secret_in_its_args(secret):
    record = make_record("posting to %s failed (%r)", (secret, secret))
    RedactSecrets().filter(record)
    assert_clean(record.getMessage())
    assert record.getMessage().startswith("posting to https://hooks.slack.com/[redacted] failed")


def test_a_record_with_the_secret_in_its_exception_and_chained_causes(secret):
    # GIVEN an exception quoting the path, raised from one quoting the URL, during one quoting its repr
    def chain() -> BaseException:
        try:
            try:
                raise ValueError(f"context {secret!r}")
            except ValueError:
                try:
                    raise http.client.InvalidURL(f"URL can't contain control characters. {PATH!r}")
                except http.client.InvalidURL as inner:
                    raise TransientError(f"Slack webhook failed: {inner}") from inner
        except TransientError as outer:
            outer.add_note(f"while posting to {secret}")
            return outer

    exc = chain()
    record = make_record("failed", exc_info=(type(exc), exc, exc.__traceback__))
    # WHEN the filter runs and the record is formatted
    RedactSecrets().filter(record)
    text = logging.Formatter().format(record)
    # THEN the traceback is whole (every exception, every frame) and no shape of the secret is in it
    assert_clean(text)
    assert "shared.errors.TransientError: Slack webhook failed" in text
    assert "http.client.InvalidURL: URL can't contain control characters" in text
    assert "ValueError: context" in text and "in chain" in text
    assert "while posting to https://hooks.slack.com/[redacted]" in text
    # AND the original exception is untouched
    assert TOKEN[:12] in str(exc)


def test_the_stand_in_is_caught_as_the_original_was(secret):
    original = raised(TransientError(f"Slack webhook failed: {PATH!r}"))
    clean = scrub_exception(original)
    assert isinstance(clean, TransientError) and clean is not original
    assert type(clean).__name__ == "TransientError" and type(clean).__module__ == "shared.errors"
    assert_clean(str(clean) + repr(clean) + "".join(traceback.format_exception(clean)))
    parse = scrub_exception(EventParseError(f"not a URL: {secret}", field="data.url"))
    assert isinstance(parse, EventParseError) and parse.field == "data.url"
    assert_clean(str(parse) + parse.reason)
    harmless = ValueError("nothing secret")
    assert scrub_exception(harmless) is harmless


def test_a_json_formatted_record_carries_no_secret(secret):
    # GIVEN our JSON formatter, a record with fields (the outcome line's shape) and an exception
    exc = raised(http.client.InvalidURL(f"URL can't contain control characters. {PATH!r}"))
    record = make_record(
        "retry: %s", (exc,), (type(exc), exc, exc.__traceback__), fields={"detail": str(exc), "url": secret}
    )
    record.stack_info = f"Stack (most recent call last):\n  posting {secret}"
    # WHEN it is filtered and formatted
    RedactSecrets().filter(record)
    line = JsonFormatter().format(record)
    # THEN the line is JSON, whole, and clean in every field
    payload = json.loads(line)
    assert set(payload) >= {"message", "detail", "url", "exception", "stack"}
    assert_clean(line)
    assert_clean(json.dumps(payload, ensure_ascii=False))


def test_a_record_without_secrets_is_left_as_it_is(secret):
    exc = raised(ValueError("fine"))
    record = make_record("all %s", ("good",), (type(exc), exc, exc.__traceback__), fields={"k": "v"})
    before = dict(vars(record))
    redact_record(record)
    assert record.msg == "all %s" and record.args == ("good",) and record.exc_info == before["exc_info"]


def test_every_handler_gets_the_filter_and_later_ones_get_redacted_records(secret, captured):
    # GIVEN loggers that exist (werkzeug's, Flask's, powertools') and a handler added after the install
    from aws_lambda_powertools import Logger

    powertools = Logger(service="redaction-test")
    werkzeug = logging.getLogger("werkzeug")
    werkzeug_handler = logging.StreamHandler(io.StringIO())
    werkzeug.addHandler(werkzeug_handler)
    try:
        install_redaction()
        later = io.StringIO()
        late_handler = logging.StreamHandler(later)
        logging.getLogger("added.later").addHandler(late_handler)
        # THEN every existing handler has the filter
        assert any(isinstance(f, RedactSecrets) for f in powertools.registered_handler.filters)
        assert any(isinstance(f, RedactSecrets) for f in werkzeug_handler.filters)
        assert any(isinstance(f, RedactSecrets) for f in logging.getLogger().handlers[-1].filters)
        # AND a record logged anywhere reaches none of them with the secret
        logging.getLogger("added.later").error("posting to %s", secret)
        logging.getLogger("slack_sdk").error(f"Failed: {PATH!r}")
        assert_clean(later.getvalue() + captured.getvalue())
        assert "posting to https://hooks.slack.com/[redacted]" in later.getvalue()
    finally:
        werkzeug.removeHandler(werkzeug_handler)
        logging.getLogger("added.later").removeHandler(late_handler)


def test_powertools_json_lines_carry_no_secret(secret):
    # GIVEN a powertools Logger, as the ecr_rollout Lambda has, writing to a buffer
    from aws_lambda_powertools import Logger

    stream = io.StringIO()
    powertools = Logger(service="redaction-test-json", stream=stream)
    install_redaction()
    # WHEN it logs the secret in a message, an extra key, a dict message and an exception
    powertools.info("webhook %s", secret, extra={"webhook": secret})
    powertools.info({"webhook": secret, "path": PATH})
    try:
        raise http.client.InvalidURL(f"URL can't contain control characters. {PATH!r}")
    except http.client.InvalidURL:
        powertools.exception("post failed")
    # THEN each line is JSON without the secret, the exception named as it was
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    assert lines[2]["exception_name"] == "InvalidURL"
    assert_clean(stream.getvalue())


def test_the_outcome_line_and_what_reraises_are_clean(secret, captured):
    # GIVEN handlers failing with a secret in their exceptions: a real http.client error, our own error
    def with_library_error():
        urllib.request.urlopen(f"http://127.0.0.1:9{PATH}")

    def with_transient_error():
        raise TransientError(f"Slack webhook failed: {PATH!r}")

    buffer = io.StringIO()
    configure_logging(buffer, force=True)
    try:
        # WHEN each runs through the runtime
        with pytest.raises(http.client.InvalidURL) as library:
            run_event("budget_alert", "e1", with_library_error)
        with pytest.raises(TransientError) as transient:
            run_event("budget_alert", "e2", with_transient_error)
    finally:
        logging.getLogger("mlops_events").handlers.clear()
    # THEN the outcome lines classify them (error, retry) and are clean
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [line["outcome"] for line in lines] == ["error", "retry"]
    assert lines[0]["detail"].startswith("InvalidURL(")
    for text in (buffer.getvalue(), captured.getvalue(), str(library.value), str(transient.value)):
        assert_clean(text)
    # AND what re-raised is still what the platform expects, with a clean traceback
    assert_clean("".join(traceback.format_exception(library.value)))
    assert_clean("".join(traceback.format_exception(transient.value)))


def test_an_outcome_whose_detail_quotes_a_secret_is_redacted(secret):
    from shared.outcome import Outcome

    buffer = io.StringIO()
    configure_logging(buffer, force=True)
    try:
        outcome = run_event("f", "e", lambda: Outcome.applied(f"posted to {secret}", url=secret))
    finally:
        logging.getLogger("mlops_events").handlers.clear()
    assert_clean(outcome.detail + json.dumps(outcome.extra) + buffer.getvalue())


# --- where secrets are remembered ----------------------------------------------------------------------


def test_settings_remember_the_webhook_url():
    from shared.config import load_settings

    load_settings({"MLOPS_EVENTS_SLACK_WEBHOOK_URL": URL + "\n"})
    assert redact(URL) == f"https://hooks.slack.com/{REDACTED}"


def test_secret_sources_remember_what_they_read():
    from types import SimpleNamespace

    from shared.adapters.aws_parameters import SecretsManagerSecretSource
    from shared.adapters.secrets import EnvSecretSource, SecretManagerSecretSource

    EnvSecretSource({"A": "env-secret-value"}).get("A")
    gcp = SimpleNamespace(
        access_secret_version=lambda request: SimpleNamespace(payload=SimpleNamespace(data=b"gcp-secret-value\n"))
    )
    SecretManagerSecretSource(gcp, "p").get("s")
    aws = SimpleNamespace(get_secret_value=lambda SecretId: {"SecretString": "aws-secret-value"})
    SecretsManagerSecretSource(aws).get("s")
    assert redact("env-secret-value gcp-secret-value aws-secret-value") == " ".join([REDACTED] * 3)


def test_a_kubeconfig_token_is_remembered_when_the_client_is_built():
    from shared.adapters.kubernetes_cluster import api_client_from_kubeconfig

    token = "eyJhbGciOiJSUzI1NiJ9.k3s-service-account-token"
    api_client_from_kubeconfig({"server": "https://127.0.0.1:6443", "token": token})
    assert redact(f"Authorization: Bearer {token}") == f"Authorization: {REDACTED}"
    assert redact(f"token={token}") == f"token={REDACTED}"


# --- the CLI's streams -------------------------------------------------------------------------------------


def test_a_redacting_stream_redacts_every_write(secret):
    inner = io.StringIO()
    stream = RedactingStream(inner)
    print(json.dumps({"detail": f"failed: {PATH!r}"}), file=stream)
    stream.write(secret)
    stream.flush()
    assert_clean(inner.getvalue())
    assert stream.encoding == "utf-8"


def test_sdk_payloads_carrying_a_secret_are_cut_before_it_is_known(captured):
    # GIVEN no secret remembered yet, and the SDKs logging at DEBUG as they read one
    botocore = logging.getLogger("botocore.parsers")
    grpc = logging.getLogger("google.cloud.secretmanager_v1.services.secret_manager_service.transports.grpc")
    # WHEN botocore logs GetSecretValue's response body and Google's client AccessSecretVersion's payload
    botocore.debug("Response body:\n%r", json.dumps({"Name": "s", "SecretString": URL}).encode())
    payload = json.dumps({"payload": {"data": "aHR0cHM6Ly9ob29rcy5zbGFjay5jb20v"}})
    grpc.debug("Received response for AccessSecretVersion.", extra={"response": {"payload": payload}})
    # THEN neither payload reaches a handler
    text = captured.getvalue()
    assert "Response body: [redacted: a payload carrying a secret]" in text
    assert_clean(text)
    assert "aHR0cHM6Ly9ob29rcy5zbGFjay5jb20v" not in text


def test_base64_of_a_secret_is_redacted(secret):
    import base64

    assert_clean(redact(base64.b64encode(secret.encode()).decode()))


def test_the_rollout_lambdas_powertools_handler_gets_the_filter():
    # GIVEN the ecr_rollout Lambda's module (its powertools Logger built at import)
    import functions.ecr_rollout as lambda_module

    # WHEN the process loads a secret (the webhook URL or the kubeconfig from Secrets Manager)
    remember_secret(URL)
    # THEN the Logger's handler redacts
    assert any(isinstance(f, RedactSecrets) for f in lambda_module.logger.registered_handler.filters)
