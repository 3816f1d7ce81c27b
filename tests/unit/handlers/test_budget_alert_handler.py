"""budget_alert: one Slack message per newly crossed threshold, against fakes of its ports."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from handlers import budget_alert
from shared.errors import EventParseError, TransientError
from shared.outcome import Status
from shared.payloads.budget import BudgetNotification, parse_budget_notification
from shared.payloads.pubsub import PubsubMessage
from tests.support.fakes import FakeDeps

NOVEMBER = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)


def notification(actual=None, forecast=None, *, cost=512.0, interval=NOVEMBER, **changes) -> BudgetNotification:
    base = BudgetNotification(
        event_id="m1",
        billing_account_id="01D4EE-079462-DFD6EC",
        budget_id="budget-1",
        schema_version="1.0",
        budget_name="ml-platform-prod",
        cost_amount=cost,
        budget_amount=1000.0,
        budget_amount_type="SPECIFIED_AMOUNT",
        currency="USD",
        cost_interval_start=interval,
        alert_threshold=actual,
        forecast_threshold=forecast,
    )
    return replace(base, **changes)


@pytest.fixture
def deps() -> FakeDeps:
    return FakeDeps()


def test_a_message_without_threshold_is_routine_and_posts_nothing(deps):
    outcome = budget_alert.handle(notification(), deps)
    assert outcome.status is Status.IGNORED
    assert deps.notifier.posts == []


def test_each_new_threshold_posts_once(deps):
    assert budget_alert.handle(notification(0.5), deps).status is Status.APPLIED
    assert budget_alert.handle(notification(0.5, cost=530.0), deps).status is Status.DUPLICATE
    assert budget_alert.handle(notification(0.9, cost=905.0), deps).status is Status.APPLIED
    assert len(deps.notifier.posts) == 2


def test_a_lower_threshold_after_a_higher_one_is_ignored(deps):
    budget_alert.handle(notification(1.0, cost=1010.0), deps)
    late = budget_alert.handle(notification(0.9, cost=950.0), deps)
    assert late.status is Status.IGNORED
    assert "below 100% already alerted" in late.detail
    assert len(deps.notifier.posts) == 1


def test_a_new_interval_rearms_every_threshold(deps):
    budget_alert.handle(notification(1.0), deps)
    december = budget_alert.handle(notification(0.5, interval=datetime(2026, 12, 1, 8, 0, tzinfo=UTC)), deps)
    assert december.status is Status.APPLIED
    assert len(deps.notifier.posts) == 2


def test_actual_and_forecast_are_separate_series(deps):
    outcome = budget_alert.handle(notification(0.5, 1.0), deps)
    assert outcome.status is Status.APPLIED
    assert [p["blocks"][2]["fields"][2]["text"] for p in deps.notifier.posts] == [
        "*Threshold*\n50% actual",
        "*Threshold*\n100% forecast",
    ]
    assert budget_alert.handle(notification(0.9), deps).status is Status.APPLIED  # forecast's 100% is not actual's


def test_slack_down_raises_for_redelivery_and_records_nothing_then_posts_once(deps):
    deps.notifier.failures = 1
    with pytest.raises(TransientError):
        budget_alert.handle(notification(0.5), deps)
    assert deps.alert_ledger.highest_by_scope == {}  # not recorded as sent
    assert budget_alert.handle(notification(0.5), deps).status is Status.APPLIED
    assert budget_alert.handle(notification(0.5), deps).status is Status.DUPLICATE
    assert len(deps.notifier.posts) == 1


def test_the_block_kit_payload_field_by_field(deps):
    payload = budget_alert.render(notification(0.9, cost=905.5), notification(0.9).crossed[0], deps.settings)
    header, summary, facts, footer = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Budget alert: ml-platform-prod", "emoji": True},
    }
    assert summary["text"]["text"] == "*ml-platform-prod* spent 90% of its budget."
    assert [f["text"] for f in facts["fields"]] == [
        "*Spent*\n905.50 USD (90.5%)",
        "*Budget*\n1,000.00 USD (specified_amount)",
        "*Threshold*\n90% actual",
        "*Interval*\nNovember 2026",
    ]
    assert footer["elements"][0]["text"] == (
        "<https://console.cloud.google.com/billing/01D4EE-079462-DFD6EC/budgets|Open in Cloud Billing>"
        " · budget `budget-1`"
    )
    assert (
        payload["text"] == "Budget ml-platform-prod spent 90% of its budget (905.50 USD of 1,000.00 USD, November 2026)"
    )


def test_forecast_wording_and_currencies_without_minor_units(deps):
    jpy = notification(forecast=1.2, cost=1_260_000, currency="JPY", budget_amount=1_000_000)
    payload = budget_alert.render(jpy, jpy.crossed[0], deps.settings)
    assert "is forecast to reach 120% of its budget" in payload["text"]
    assert payload["blocks"][2]["fields"][0]["text"] == "*Spent*\n1,260,000 JPY (126%)"


def test_hostile_budget_names_cannot_mention_or_link(deps):
    hostile = notification(0.5, budget_name="<!channel> <https://evil.example|click> & co")
    payload = budget_alert.render(hostile, hostile.crossed[0], deps.settings)
    mrkdwn = json.dumps([b for b in payload["blocks"] if b["type"] != "header"]) + payload["text"]
    assert "<!channel>" not in mrkdwn and "<https://evil" not in mrkdwn
    assert "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; co" in payload["text"]
    assert payload["blocks"][0]["text"]["type"] == "plain_text"  # headers are never parsed for mentions


def test_the_configured_mention_is_added_at_or_above_its_percentage(deps):
    deps.settings.budget_mention = "<!subteam^S0123ABC>"
    deps.settings.budget_mention_at_percent = 100.0
    below = budget_alert.render(notification(0.9, cost=990.0), notification(0.9).crossed[0], deps.settings)
    at = budget_alert.render(notification(1.0, cost=1000.0), notification(1.0).crossed[0], deps.settings)
    assert "<!subteam" not in json.dumps(below)
    assert at["text"].startswith("<!subteam^S0123ABC> ")
    assert at["blocks"][1]["text"]["text"] == "<!subteam^S0123ABC> spend is at 100% of the budget"


def message(data, attributes=None) -> PubsubMessage:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return PubsubMessage(
        "m1",
        "m1",
        None,
        raw,
        attributes if attributes is not None else {"billingAccountId": "A", "budgetId": "B", "schemaVersion": "1.0"},
    )


BODY = {
    "budgetDisplayName": "b",
    "costAmount": 5.5,
    "costIntervalStart": "2026-11-01T07:00:00Z",
    "budgetAmount": 10,
    "budgetAmountType": "SPECIFIED_AMOUNT",
    "currencyCode": "usd",
    "alertThresholdExceeded": 0.5,
    "someFutureField": {"x": 1},
}


def test_parsing_tolerates_unknown_fields_and_snake_case():
    parsed = parse_budget_notification(message(BODY))
    assert (parsed.currency, parsed.alert_threshold, parsed.forecast_threshold) == ("USD", 0.5, None)
    snake = {
        "budget_display_name": "b",
        "cost_amount": 1.5,
        "cost_interval_start": "2026-11-01T07:00:00Z",
        "budget_amount": 10,
        "currency_code": "EUR",
        "forecast_threshold_exceeded": 1,
    }
    parsed = parse_budget_notification(message(snake, {"billing_account_id": "A", "budget_id": "B"}))
    assert (parsed.budget_id, parsed.forecast_threshold, parsed.schema_version) == ("B", 1.0, "1.0")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"costAmount": "lots"}, "data.costAmount"),
        ({"costAmount": float("inf")}, "data.costAmount"),
        ({"alertThresholdExceeded": -0.5}, "data.alertThresholdExceeded"),
        ({"currencyCode": "dollars"}, "data.currencyCode"),
        ({"costIntervalStart": "November"}, "data.costIntervalStart"),
        ({"budgetDisplayName": None}, "data.budgetDisplayName"),
        # Numbers past a float, times past any event's, thresholds past a rule's or the cost's
        ({"costAmount": 10**400}, "data.costAmount"),
        ({"budgetAmount": "1e400"}, "data.budgetAmount"),
        ({"costIntervalStart": "0001-01-01T00:00:00+01:00"}, "data.costIntervalStart"),
        ({"costIntervalStart": "9999-12-31T23:59:59Z"}, "data.costIntervalStart"),
        ({"alertThresholdExceeded": 1e6}, "data.alertThresholdExceeded"),
        ({"forecastThresholdExceeded": 11}, "data.forecastThresholdExceeded"),
        ({"alertThresholdExceeded": 0.9}, "data.alertThresholdExceeded"),  # 5.5 of 10 has not crossed 90%
        ({"currencyCode": "USD\n"}, "data.currencyCode"),
    ],
)
def test_bad_fields_are_named(change, field):
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}
    with pytest.raises(EventParseError) as caught:
        parse_budget_notification(message(json.loads(json.dumps(body, allow_nan=True))))
    assert caught.value.field == field


def test_missing_attributes_are_named():
    with pytest.raises(EventParseError) as caught:
        parse_budget_notification(message(BODY, {"budgetId": "B"}))
    assert caught.value.field == "attributes.billingAccountId"


def test_base64_round_trip_of_the_fixture_bodies_is_what_parsing_reads():
    # The fixtures carry the body base64-encoded, as Pub/Sub does; nothing else decodes it twice.
    encoded = base64.b64encode(json.dumps(BODY).encode())
    assert json.loads(base64.b64decode(encoded)) == BODY
