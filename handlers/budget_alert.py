"""A budget notification becomes one Slack message per newly crossed threshold, never two.

The budget publishes its state many times a day. Only a threshold crossed for the first time in the
current cost interval is posted: a message without a threshold is routine, a lower threshold after a
higher one is stale, and a new interval (a new month) re-arms every threshold.

Claim, post, confirm: the threshold's key is claimed, the message posted, and only once Slack has
accepted it is the threshold recorded and the claim completed. A failed post releases the claim and
raises, so Pub/Sub redelivers; a claim left by a crash expires. The one window for a duplicate post
is a crash after Slack accepted the message and before the claim was completed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from shared import slack_format as slack
from shared.idempotency import run_once
from shared.outcome import Outcome
from shared.payloads.budget import BudgetNotification, CrossedThreshold, ThresholdKind

if TYPE_CHECKING:
    from shared.ports import AlertLedger, Clock, IdempotencyStore, SlackNotifier

BILLING_CONSOLE = "https://console.cloud.google.com/billing/{account}/budgets"
BILLING_TIME_ZONE = ZoneInfo("America/Los_Angeles")


class BudgetAlertSettings(Protocol):
    @property
    def claim_ttl_s(self) -> float: ...
    @property
    def budget_mention(self) -> str | None: ...
    @property
    def budget_mention_at_percent(self) -> float: ...


class BudgetAlertDeps(Protocol):
    @property
    def settings(self) -> BudgetAlertSettings: ...
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def alert_ledger(self) -> AlertLedger: ...
    @property
    def notifier(self) -> SlackNotifier: ...
    @property
    def clock(self) -> Clock: ...


def _percent(value: float) -> str:
    if not math.isfinite(value):  # a cost so far past a tiny budget that the share overflows
        return "n/a"
    return f"{value:.0f}%" if value == round(value) else f"{value:.1f}%"


def _interval(notification: BudgetNotification) -> str:
    """Cloud Billing counts in US Pacific time: `2026-11-01T07:00:00Z` is the start of November."""
    start = notification.cost_interval_start.astimezone(BILLING_TIME_ZONE)
    if start.day == 1 and (start.hour, start.minute) == (0, 0):
        return start.strftime("%B %Y")
    return f"since {start.date().isoformat()}"


def _console(notification: BudgetNotification) -> str:
    """A link to the account's budgets, or, for an account id without the id's form, the id as text."""
    account = notification.billing_account
    if account is not None:
        return slack.link(slack.url(BILLING_CONSOLE, account=account), "Open in Cloud Billing")
    return f"billing account `{slack.text(notification.billing_account_id, slack.ID_MAX)}` (not an account id: no link)"


def render(notification: BudgetNotification, crossed: CrossedThreshold, settings: BudgetAlertSettings) -> dict:
    """The incoming-webhook payload: a plain `text` fallback (notifications) and the Block Kit blocks.

    Every value from the notification goes in through `slack.text` (escaped, cut) or `slack.plain`
    (the header), the console URL through `slack.url`: see shared/slack_format.py.
    """
    name = slack.text(notification.budget_name)
    currency = notification.currency
    spent = slack.text(slack.money(notification.cost_amount, currency), slack.ID_MAX)
    budget = slack.text(slack.money(notification.budget_amount, currency), slack.ID_MAX)
    used = notification.spent_percent
    used_text = _percent(used) if used is not None else "n/a"
    if crossed.kind is ThresholdKind.ACTUAL:
        what = f"spent {_percent(crossed.percent)} of its budget"
    else:
        what = f"is forecast to reach {_percent(crossed.percent)} of its budget"
    interval = _interval(notification)
    text = f"Budget {name} {what} ({spent} of {budget}, {interval})"
    amount_type = slack.text(notification.budget_amount_type.lower(), slack.ID_MAX)
    blocks = [
        slack.header(f"Budget alert: {slack.plain(notification.budget_name, 100)}"),
        slack.section(f"*{name}* {what}."),
        slack.fields(
            [
                ("Spent", f"{spent} ({used_text})"),
                ("Budget", f"{budget} ({amount_type})"),
                ("Threshold", f"{_percent(crossed.percent)} {crossed.kind}"),
                ("Interval", interval),
            ]
        ),
        slack.context(f"{_console(notification)} · budget `{slack.text(notification.budget_id, slack.ID_MAX)}`"),
    ]
    mention = settings.budget_mention
    # Configuration, checked when loaded; checked again because it is the one `<...>` not built here.
    if mention and slack.valid_mention(mention) and used is not None and used >= settings.budget_mention_at_percent:
        blocks.insert(1, slack.section(f"{mention} spend is at {used_text} of the budget"))
        text = f"{mention} {text}"
    return {"text": slack.fallback(text), "blocks": blocks}


def _alert(notification: BudgetNotification, crossed: CrossedThreshold, deps: BudgetAlertDeps) -> Outcome:
    scope = notification.scope(crossed.kind)
    key = f"budget:{scope}/{crossed.threshold:g}"
    label = f"{slack.cut(notification.budget_name)}: {_percent(crossed.percent)} {crossed.kind}"
    highest = deps.alert_ledger.highest(scope)
    if highest is not None and crossed.threshold < highest:
        return Outcome.ignored(f"{label} is below {_percent(highest * 100)} already alerted this interval", key=key)

    def post() -> dict[str, Any]:
        deps.notifier.post(render(notification, crossed, deps.settings))
        deps.alert_ledger.raise_to(scope, crossed.threshold, now=deps.clock())
        return {"posted": True}

    fresh, _ = run_once(deps.idempotency, key, post, clock=deps.clock, claim_ttl_s=deps.settings.claim_ttl_s)
    if not fresh:
        return Outcome.duplicate(f"{label} already posted", key=key)
    return Outcome.applied(f"posted {label} to Slack", key=key)


def handle(notification: BudgetNotification, deps: BudgetAlertDeps) -> Outcome:
    if not notification.crossed:
        return Outcome.ignored(f"{slack.cut(notification.budget_name)}: routine update, no threshold crossed")
    outcomes = [_alert(notification, crossed, deps) for crossed in notification.crossed]
    applied = [o for o in outcomes if o.status == "applied"]
    chosen = applied[0] if applied else outcomes[0]
    detail = "; ".join(o.detail for o in outcomes)
    if not notification.schema_known:
        detail += (
            f" (schemaVersion {slack.cut(notification.schema_version, slack.ID_MAX)} is not one we know; read as 1.0)"
        )
    return Outcome(chosen.status, detail, chosen.key, chosen.extra)
