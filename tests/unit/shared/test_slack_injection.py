"""Slack injection: whatever an event carries, the Block Kit we post holds no link, mention or markup of its own.

One rule (shared/slack_format.py): every outside value is escaped (and cut) where it enters Slack text,
every URL is built from validated, percent-encoded parts. The property tests feed hostile strings into
every outside field of every message builder and read the resulting payload the way Slack would:
every `<...>` in it must be one our code wrote (a link to the expected console host, the configured
mention), and every text must be within Slack's limits.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import budget_alert, drift_report
from shared import slack_format as slack
from shared.drift.detect import DriftResult
from shared.drift.verdicts import FeatureDrift
from shared.errors import EventParseError
from shared.payloads.budget import BudgetNotification, parse_budget_notification
from shared.payloads.drift import DataLocation, DriftRequest
from shared.payloads.pubsub import PubsubMessage
from tests.support.fakes import FakeSettings

CONSOLE_HOST = "console.cloud.google.com"
ISSUE_ACCOUNT = "X|Open> <!channel> <https://evil.example/phish"
NOVEMBER = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)

# -- what a safe payload is ----------------------------------------------------------------------------

TOKEN = re.compile(r"<([^<>]*)>")
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def texts(payload: dict[str, Any]) -> list[tuple[str, str, int]]:
    """Every text in the payload: (where, kind, Slack's limit for it)."""
    found = [("text", "mrkdwn", slack.TEXT_MAX, payload["text"])]
    for i, block in enumerate(payload["blocks"]):
        if block["type"] == "header":
            found.append((f"blocks[{i}].header", block["text"]["type"], 150, block["text"]["text"]))
        elif block["type"] == "section":
            if "text" in block:
                found.append((f"blocks[{i}].text", block["text"]["type"], 3000, block["text"]["text"]))
            assert len(block.get("fields", [])) <= 10
            for j, field in enumerate(block.get("fields", [])):
                found.append((f"blocks[{i}].fields[{j}]", field["type"], 2000, field["text"]))
        elif block["type"] == "context":
            assert len(block["elements"]) <= 10
            for j, element in enumerate(block["elements"]):
                found.append((f"blocks[{i}].elements[{j}]", element["type"], 3000, element["text"]))
        else:
            raise AssertionError(f"unexpected block {block['type']}")
    for block in payload["blocks"]:
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if obj and obj["type"] == "mrkdwn":
                assert obj.get("verbatim") is True, "data's bare URLs and #channels would be linked"
    return [(where, kind, limit, text) for where, kind, limit, text in found]


def assert_safe(payload: dict[str, Any], *, mentions: frozenset[str] = frozenset()) -> list[str]:
    """The payload as Slack reads it has no `<...>` but ours; returns the link URLs it holds."""
    json.dumps(payload, ensure_ascii=False).encode("utf-8")  # no lone surrogate: the post can be encoded
    links = []
    for where, kind, limit, text in texts(payload):
        assert text, f"{where} is empty"
        assert units(text) <= limit, f"{where} is {units(text)} characters, Slack takes {limit}"
        assert not UNSAFE.search(text), f"{where} holds a control or bidi character"
        if kind == "plain_text":
            assert "<" not in text and ">" not in text, where
            continue
        tokens = TOKEN.findall(text)
        assert text.count("<") == text.count(">") == len(tokens), f"{where} has a stray angle bracket: {text[:300]!r}"
        for token in tokens:
            if f"<{token}>" in mentions:
                continue
            assert token[:1] not in "!@#", f"{where} mentions {token!r}"
            address, bar, label = token.partition("|")
            assert bar and label and "|" not in address, f"{where}: {token!r} is not one of our links"
            assert not re.search(r"[\s\x00-\x1f\x7f]", address), address
            parts = urlsplit(address.replace("&amp;", "&"))
            assert (parts.scheme, parts.hostname, parts.port) == ("https", CONSOLE_HOST, None), address
            assert "&" not in re.sub(r"&(amp|lt|gt);", "", label), label
            links.append(address)
    return links


# -- hostile strings -----------------------------------------------------------------------------------

ATOMS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0123ABC>",
    "<@U123>",
    "<#C123>",
    "<https://evil.example|x>",
    "<https://evil.example/phish>",
    ISSUE_ACCOUNT,
    "|",
    ">",
    "<",
    "&",
    "&lt;!channel&gt;",
    "&amp;",
    "\u202e",  # right-to-left override
    "\u200f",  # right-to-left mark
    "\u2066",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\n> quoted",
    "`",
    "*bold*",
    "https://evil.example/login",
    "@channel",
    "\ud800",  # a lone surrogate, as json.loads gives for "\\ud800"
    "😀",
    "../..",
    "/",
    "%2F",
    "?a=b#c",
    " ",
    "e\u0301" * 3,
    "\u0000" * 3,
]
SIZES = st.sampled_from([10_000, 65_536, 300_001, 1_048_576])


def _big(pair: tuple[str, int]) -> str:
    atom, size = pair
    return (atom * (size // max(len(atom), 1) + 1))[:size]


hostile = st.one_of(
    st.sampled_from(ATOMS),
    st.lists(st.one_of(st.sampled_from(ATOMS), st.text(max_size=12)), min_size=1, max_size=8).map("".join),
    st.text(min_size=1),
    st.tuples(st.sampled_from([*ATOMS, "a", "é", "😀"]), SIZES).map(_big),
)
# A name the parser accepts (it refuses an empty one): hostile, never empty.
hostile_name = hostile.filter(bool)


def _utf8(text: str) -> str:
    """JSON can carry a lone surrogate; Pub/Sub and Cloud Billing cannot, and the parser refuses it."""
    return "".join(c for c in text if not "\ud800" <= c <= "\udfff")


def _as_key(text: str) -> str:
    """A hostile text as an id can be: no control or surrogate character, within Pub/Sub's 1024."""
    kept = "".join(c for c in text[:1024] if c >= " " and c != "\x7f" and not "\ud800" <= c <= "\udfff")
    return kept or "b"


# -- budget alerts ---------------------------------------------------------------------------------------


def pubsub_message(data: dict[str, Any], attributes: dict[str, str]) -> PubsubMessage:
    """The message the function parses: the JSON body (as base64-decoded from the push) and attributes."""
    raw = json.dumps(data).encode()  # json.dumps escapes a lone surrogate; json.loads gives it back
    return PubsubMessage("9700000000000900", "9700000000000900", None, raw, attributes)


def budget_body(**changes: Any) -> dict[str, Any]:
    return {
        "budgetDisplayName": "ml-platform-prod",
        "costAmount": 905.5,
        "costIntervalStart": "2026-11-01T07:00:00Z",
        "budgetAmount": 1000.0,
        "budgetAmountType": "SPECIFIED_AMOUNT",
        "currencyCode": "USD",
        "alertThresholdExceeded": 0.9,
        "forecastThresholdExceeded": 1.2,
        **changes,
    }


ATTRIBUTES = {"billingAccountId": "01D4EE-079462-DFD6EC", "budgetId": "budget-1", "schemaVersion": "1.0"}


def render_all(notification: BudgetNotification, mention: str | None = None) -> list[dict[str, Any]]:
    settings = FakeSettings()
    settings.budget_mention, settings.budget_mention_at_percent = mention, 0.0
    return [budget_alert.render(notification, crossed, settings) for crossed in notification.crossed]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    name=hostile_name.map(_utf8).filter(bool),
    amount_type=hostile.map(_utf8),
    # Attributes: within Pub/Sub's limit of 1024 bytes a value (the parser refuses longer ones)
    account=hostile_name.map(lambda text: _utf8(text[:1024])).filter(bool),
    budget_id=hostile_name.map(_as_key),  # a key: the parser refuses control characters in it
    schema=hostile.map(lambda text: _utf8(text[:1024])),
    cost=st.floats(0, 1e300),
    budget=st.floats(0, 1e300),
    threshold=st.floats(0, 10),  # a rule's share, at most 1,000% (the parser's bound)
    mention=st.sampled_from([None, "<!channel>", "<!subteam^S0123ABC>"]),
)
def test_no_budget_notification_can_write_markup_into_its_alert(
    name, amount_type, account, budget_id, schema, cost, budget, threshold, mention
):
    # GIVEN a real-shaped budget notification whose every text field and attribute is hostile
    body = budget_body(
        budgetDisplayName=name,
        budgetAmountType=amount_type,
        costAmount=cost,
        budgetAmount=budget,
        # An actual threshold the cost has crossed (the parser refuses one it has not); a forecast any
        alertThresholdExceeded=min(threshold, cost / budget) if budget > 0 else threshold,
        forecastThresholdExceeded=threshold,
    )
    attributes = {"billingAccountId": account, "budgetId": budget_id, "schemaVersion": schema}
    notification = parse_budget_notification(pubsub_message(body, attributes))

    # WHEN every threshold it crossed is rendered
    payloads = render_all(notification, mention)

    # THEN nothing from the data links or mentions, the one link is to the billing console, all fits
    for payload in payloads:
        links = assert_safe(payload, mentions=frozenset({mention} - {None}))
        valid = bool(re.fullmatch(r"[0-9A-Za-z]{6}(-[0-9A-Za-z]{6}){2}", account.strip()))
        assert links == ([f"https://{CONSOLE_HOST}/billing/{account.strip().upper()}/budgets"] if valid else [])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(currency=hostile_name, name=hostile_name)
def test_fields_the_parser_would_refuse_are_still_escaped_by_the_renderer(currency, name):
    # GIVEN a notification built past the parser (a currency that is no ISO code)
    notification = replace(
        parse_budget_notification(pubsub_message(budget_body(), ATTRIBUTES)), currency=currency, budget_name=name
    )
    # THEN the renderer alone keeps the payload safe
    for payload in render_all(notification):
        assert_safe(payload)


def test_the_issue_example_posts_no_ping_and_no_phishing_link():
    # GIVEN the billingAccountId from the issue
    notification = parse_budget_notification(
        pubsub_message(budget_body(), {**ATTRIBUTES, "billingAccountId": ISSUE_ACCOUNT})
    )
    # WHEN rendered
    [actual, forecast] = render_all(notification)
    # THEN the alert still goes out, with no link at all and the account shown as escaped text
    for payload in (actual, forecast):
        assert assert_safe(payload) == []
        footer = payload["blocks"][-1]["elements"][0]["text"]
        assert footer == (
            "billing account `X|Open&gt; &lt;!channel&gt; &lt;https://evil.example/phish` (not an account id: no link)"
            " · budget `budget-1`"
        )
        assert "<!channel>" not in json.dumps(payload) and "<https://evil" not in json.dumps(payload)


def test_a_10_mb_budget_name_is_cut_and_says_so():
    notification = parse_budget_notification(
        pubsub_message(budget_body(budgetDisplayName="&" * 10_485_760), ATTRIBUTES)
    )
    payload = render_all(notification)[0]
    assert_safe(payload)
    assert len(json.dumps(payload)) < 20_000
    summary = payload["blocks"][1]["text"]["text"]
    assert summary.startswith("*&amp;&amp;") and "… (cut, 10,485,760 characters)*" in summary
    assert payload["blocks"][0]["text"]["text"].startswith("Budget alert: &&&")


def test_a_valid_account_links_to_its_budgets_and_nothing_else():
    notification = parse_budget_notification(pubsub_message(budget_body(), ATTRIBUTES))
    payload = render_all(notification)[0]
    assert assert_safe(payload) == ["https://console.cloud.google.com/billing/01D4EE-079462-DFD6EC/budgets"]


@pytest.mark.parametrize(
    ("account", "linked"),
    [
        ("01D4EE-079462-DFD6EC", "01D4EE-079462-DFD6EC"),
        (" 01d4ee-079462-dfd6ec\n", "01D4EE-079462-DFD6EC"),  # the same id, as a person might paste it
        ("01D4EE-079462-DFD6E\u0130", None),  # non-ASCII that upper-cases to ASCII is no id
        ("01D4EE-079462-DFD6EC/../../evil", None),
        ("billingAccounts/01D4EE-079462-DFD6EC", None),
    ],
)
def test_only_an_account_id_of_the_ids_form_is_linked(account, linked):
    notification = parse_budget_notification(pubsub_message(budget_body(), {**ATTRIBUTES, "billingAccountId": account}))
    links = assert_safe(render_all(notification)[0])
    assert links == ([f"https://{CONSOLE_HOST}/billing/{linked}/budgets"] if linked else [])


def test_an_invalid_configured_mention_is_not_posted():
    notification = parse_budget_notification(pubsub_message(budget_body(), ATTRIBUTES))
    for payload in render_all(notification, mention="<https://evil.example|@here>"):
        assert "evil" not in json.dumps(payload)


# -- drift alerts -------------------------------------------------------------------------------------------


def feature(name: str, drifted: bool = True) -> FeatureDrift:
    return FeatureDrift(name, "numeric", "ok", "wasserstein", 0.1, drifted, 0.5, value=0.5)


def drift_request(model: str, env: str, job: str, event_id: str) -> DriftRequest:
    location = DataLocation(bucket="ml-drift-dev", path="fraud/*.parquet")
    return DriftRequest(event_id, job, None, model, env, location, location)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    model=hostile_name,
    env=hostile_name,
    job=hostile_name,
    event_id=hostile_name,
    features=st.lists(hostile_name, min_size=1, max_size=12),
    bucket=st.one_of(st.just("ml-drift-logs-dev"), hostile_name),
    name=hostile_name,
)
def test_no_drift_run_can_write_markup_into_its_alert(model, env, job, event_id, features, bucket, name):
    # GIVEN a drift run whose model, env, job, features, bucket and report object name are all hostile
    result = DriftResult([feature(f) for f in features], True, 1.0, 4000, 4000, {})
    report = drift_report.ReportObjects(bucket, name, name + ".json")

    # WHEN its alert is rendered
    payload = drift_report.render_alert(drift_request(model, env, job, event_id), result, report)

    # THEN the one link, if any, opens that very object in the console, and nothing else links or mentions
    links = assert_safe(payload)
    if links:
        [address] = links
        parts = urlsplit(address)
        assert parts.path.startswith(f"/storage/browser/_details/{bucket}/")
        assert unquote(parts.path.removeprefix(f"/storage/browser/_details/{bucket}/")) == name
        assert not parts.query and not parts.fragment
        assert ".." not in parts.path.split("/")
    elif re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]", bucket):
        # left out only for a name no URL should carry: not UTF-8, `.`/`..`, or too long for a link
        too_long = len(name.encode("utf-8", "surrogatepass")) * 3 > slack.URL_MAX - 100
        assert UNSAFE.search(name) or name.strip(".") == "" or too_long, name[:100]


def test_a_report_name_with_dot_segments_stays_one_segment():
    report = drift_report.ReportObjects("ml-drift-logs-dev", "drift/../../../billing/x", "x.json")
    assert report.console_url == (
        "https://console.cloud.google.com/storage/browser/_details/ml-drift-logs-dev/drift%2F..%2F..%2F..%2Fbilling%2Fx"
    )
    normal = drift_report.ReportObjects("ml-drift-logs-dev", "drift/fraud/dev/2026-11-20/a b#c?.html", "x.json")
    assert normal.console_url == (
        "https://console.cloud.google.com/storage/browser/_details/ml-drift-logs-dev/drift/fraud/dev/2026-11-20/a%20b%23c%3F.html"
    )


# -- the helpers themselves --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "https://evil.example/x|<!channel>",
        "https://console.cloud.google.com/a b",
        "https://console.cloud.google.com/a>b",
        "https://console.cloud.google.com/\u00e9",
        "https://console.cloud.google.com/\n",
        "javascript:alert(1)",
        "http://console.cloud.google.com/",
        "https://user@console.cloud.google.com/",
        "https:///path",
    ],
)
def test_link_refuses_a_url_slack_would_misread(address):
    with pytest.raises(ValueError):
        slack.link(address, "x")


def test_url_encodes_every_part_and_stays_on_the_templates_host():
    built = slack.url("https://console.cloud.google.com/billing/{account}/budgets", account="x|y>/z?#@evil.example")
    assert built == "https://console.cloud.google.com/billing/x%7Cy%3E%2Fz%3F%23%40evil.example/budgets"
    with pytest.raises(ValueError):
        slack.url("https://{host}/x", host="evil.example")


def test_link_labels_are_escaped_and_ampersands_in_urls_are_entities():
    assert slack.link("https://console.cloud.google.com/?a=1&b=2", "<!here> & co") == (
        "<https://console.cloud.google.com/?a=1&amp;b=2|&lt;!here&gt; &amp; co>"
    )


@given(hostile, st.integers(20, 3000))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_text_is_escaped_cut_within_its_limit_and_says_how_long_it_was(value, limit):
    shown = slack.cut(value, limit)
    assert units(shown) <= limit
    assert shown == value or shown.endswith((f"… (cut, {len(value):,} characters)", "…"))
    escaped = slack.text(value, limit)
    assert "<" not in escaped and ">" not in escaped and not UNSAFE.search(escaped)


def test_blocks_hold_slacks_limits_without_cutting_an_entity_or_a_link():
    escaped = slack.text("&" * 5000, 5000)
    section = slack.section(escaped)["text"]["text"]
    assert units(section) <= 3000 and re.fullmatch(r"(&amp;)+… \(cut, 25,000 characters\)", section)
    field = slack.fields([("Name", slack.link("https://console.cloud.google.com/x", "y") * 200)])["fields"][0]["text"]
    assert units(field) <= 2000 and field.count("<") == field.count(">")
    assert len(slack.header("😀" * 500)["text"]["text"].encode("utf-16-le")) // 2 <= 150


def test_parse_still_refuses_what_it_always_refused():
    with pytest.raises(EventParseError):
        parse_budget_notification(pubsub_message(budget_body(currencyCode="<!here>"), ATTRIBUTES))
