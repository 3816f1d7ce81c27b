"""The preview of a dead letter's data: cut, control and invisible characters escaped, secrets never shown."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.secret_values import forget_secrets, remember_secret
from tooling.dead_letters.preview import REDACTED, cut, preview, safe_attributes

WEBHOOK = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/" + "Z" * 24


@pytest.mark.parametrize(
    ("data", "secret"),
    [
        ({"webhook_url": WEBHOOK}, WEBHOOK),
        ({"note": f"posted to {WEBHOOK} at noon"}, "Z" * 24),
        ({"nested": [{"password": "hunter2-hunter2"}]}, "hunter2-hunter2"),
        ({"auth": {"Authorization": "Bearer abcdefghijklmnop.qrstuv"}}, "abcdefghijklmnop"),
        ({"url": "https://alice:s3cr3t-pw@example.com/x"}, "s3cr3t-pw"),
        ({"url": "https://storage.googleapis.com/b/o?X-Goog-Signature=deadbeefcafe&x=1"}, "deadbeefcafe"),
        ({"aws": "key AKIAABCDEFGHIJKLMNOP here"}, "AKIAABCDEFGHIJKLMNOP"),
        ({"slack": "xoxb-123456-abcdefABCDEF"}, "xoxb-123456-abcdefABCDEF"),
        ({"jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}, "eyJzdWIiOiJ4In0"),
        ({"pem": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"}, "MIIEvQIBADANBg"),
    ],
)
def test_secrets_in_json_data_are_never_shown(data, secret):
    shown = preview(json.dumps(data).encode(), limit=10_000)
    assert secret not in shown
    assert REDACTED in shown


@pytest.mark.parametrize(
    "text",
    [
        "password=hunter2-hunter2 and more",
        '{"token": "hunter2-hunter2", "truncated',  # JSON cut short: no longer parses
        "webhook_url: hunter2-hunter2",
    ],
)
def test_secrets_in_text_that_is_not_json_are_never_shown(text):
    assert "hunter2-hunter2" not in preview(text.encode(), limit=10_000)


def test_a_secret_the_process_knows_is_redacted_whatever_its_key():
    remember_secret("an-odd-shaped-secret-value")
    try:
        assert "an-odd-shaped-secret-value" not in preview(b'{"x": "an-odd-shaped-secret-value"}')
    finally:
        forget_secrets()


def test_a_secret_is_taken_out_before_the_cut_so_no_prefix_is_left():
    data = json.dumps({"a": "x" * 150, "note": WEBHOOK}).encode()
    shown = preview(data, limit=200)
    assert "B0BBBBBBB" not in shown and "ZZZZ" not in shown


def test_control_and_invisible_characters_are_escaped():
    shown = preview("\x1b[2Jcleared\r\n\tbell\x07 rtl\u202eevil zw\u200b ls\u2028 nul\x00".encode())
    assert shown == "\\x1b[2Jcleared\\r\\n\\tbell\\x07 rtl\\u202eevil zw\\u200b ls\\u2028 nul\\x00"


def test_bytes_that_are_not_utf8_are_shown_as_escapes():
    assert preview(b"ok \xff\xfe end") == "ok \\xff\\xfe end"


def test_a_long_message_is_cut_saying_how_much():
    shown = preview(b"a" * 1000, limit=200)
    assert shown == "a" * 200 + "… (800 characters cut)"


def test_a_cut_never_splits_an_escape():
    text = "a" * 196 + "\\u202e" + "b" * 10
    assert cut(text, 200) == "a" * 196 + "… (16 characters cut)"


def test_attributes_under_a_secret_key_are_redacted_and_values_escaped():
    shown = safe_attributes({"token": "t0ps3cr3t", "budgetId": "b-1\n", "k\x1b": "v"})
    assert shown == {"budgetId": "b-1\\n", "k\\x1b": "v", "token": REDACTED}


@given(st.binary(max_size=600) | st.text(max_size=600).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_no_preview_carries_a_character_a_terminal_would_act_on(data):
    shown = preview(data, limit=120)
    assert not any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"} for c in shown)
    assert len(shown) <= 120 + len("… (100000 characters cut)")


@pytest.mark.parametrize(
    "data",
    [
        json.dumps({"body": json.dumps({"password": "hunter2", "api_key": "sk-live-abc"})}),  # a stringified body
        json.dumps({"Message": json.dumps({"nested": json.dumps({"token": "hunter2"})})}),  # SNS in SQS, twice
        '{"Message": "{\\"token\\": \\"hunter2\\", \\"ok\\": 1} cut',  # no longer JSON: the text rule
        "see ghp_abcdefghijklmnopqrstuvwxyz0123456789 under a plain key",
    ],
)
def test_secrets_in_json_inside_strings_and_github_tokens_are_never_shown(data):
    shown = preview(data, 10_000)
    assert "hunter2" not in shown and "sk-live-abc" not in shown and "ghp_abcdefghij" not in shown
    assert REDACTED in shown
