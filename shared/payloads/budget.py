"""Cloud Billing budget notifications, as the budget publishes them to its Pub/Sub topic.

Data (JSON, schemaVersion 1.0): budgetDisplayName, costAmount, costIntervalStart, budgetAmount,
budgetAmountType, currencyCode, and alertThresholdExceeded / forecastThresholdExceeded only when a
threshold has been crossed. Attributes: billingAccountId, budgetId, schemaVersion. The budget
publishes many times a day whether or not anything was crossed; unknown fields are tolerated and
keys are read camelCase or snake_case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.errors import EventParseError
from shared.payloads import _fields
from shared.payloads.pubsub import PubsubMessage

KNOWN_SCHEMA_VERSIONS = frozenset({"1.0"})
_CURRENCY = re.compile(r"[A-Z]{3}")
MAX_AMOUNT = 1e300  # costs and budgets are only shown and divided: any finite amount
# A threshold is a budget rule's share (0.5 = 50%). The ledger keeps the highest alerted per interval, so a
# forged huge one would silence every genuine one after it: above 1,000% none is taken, and an actual
# threshold must be one the reported cost has crossed (the first notice of a crossing always has; a later
# one after credits may not, and is then refused: it was alerted already).
MAX_THRESHOLD = 10.0
_CROSSING_TOLERANCE = 1e-6
# `gcloud billing accounts describe`: "Billing account IDs are of the form 0X0X0X-0X0X0X-0X0X0X".
BILLING_ACCOUNT_ID = re.compile(r"[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{6}")  # ASCII only: read upper-cased


class ThresholdKind(StrEnum):
    ACTUAL = "actual"
    FORECAST = "forecast"


@dataclass(frozen=True)
class CrossedThreshold:
    kind: ThresholdKind
    threshold: float  # a fraction of the budget: 0.5, 0.9, 1.0, 1.2...

    @property
    def percent(self) -> float:
        return round(self.threshold * 100, 4)


@dataclass(frozen=True)
class BudgetNotification:
    event_id: str
    billing_account_id: str
    budget_id: str
    schema_version: str
    budget_name: str
    cost_amount: float
    budget_amount: float
    budget_amount_type: str
    currency: str
    cost_interval_start: datetime
    alert_threshold: float | None
    forecast_threshold: float | None
    published: datetime | None = None

    @property
    def crossed(self) -> list[CrossedThreshold]:
        found = []
        if self.alert_threshold is not None:
            found.append(CrossedThreshold(ThresholdKind.ACTUAL, self.alert_threshold))
        if self.forecast_threshold is not None:
            found.append(CrossedThreshold(ThresholdKind.FORECAST, self.forecast_threshold))
        return found

    @property
    def spent_percent(self) -> float | None:
        return self.cost_amount / self.budget_amount * 100 if self.budget_amount > 0 else None

    @property
    def billing_account(self) -> str | None:
        """The billing account id when it has the id's form, else None.

        The attribute is not refused at parse time: a notification whose account id has an unexpected
        form is still a budget crossing someone must hear about (and an odd attribute must not be able
        to silence a real alert). It is only never put in a URL: the alert then shows it as text.
        """
        account = self.billing_account_id.strip()
        return account.upper() if BILLING_ACCOUNT_ID.fullmatch(account) else None

    @property
    def schema_known(self) -> bool:
        return self.schema_version in KNOWN_SCHEMA_VERSIONS

    def scope(self, kind: ThresholdKind) -> str:
        """What one alert series is about: thresholds re-arm with each new cost interval."""
        return f"{self.budget_id}/{self.cost_interval_start.isoformat()}/{kind}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _either(obj: Mapping[str, Any], camel: str) -> Any:
    value = obj.get(camel)
    return value if value is not None else obj.get(_snake(camel))


def _number(obj: Mapping[str, Any], camel: str, field: str, *, maximum: float = MAX_AMOUNT) -> float | None:
    value = _either(obj, camel)
    return None if value is None else _fields.finite_number(value, field, maximum=maximum)


def _required_number(obj: Mapping[str, Any], camel: str, field: str) -> float:
    value = _number(obj, camel, field)
    if value is None:
        raise EventParseError("is missing", field=field)
    return value


def _text(obj: Mapping[str, Any], camel: str, field: str, *, max_chars: int | None = _fields.MAX_TEXT) -> str:
    return _fields.required_string({camel: _either(obj, camel)}, camel, field, max_chars=max_chars)


def _optional_text(
    obj: Mapping[str, Any], camel: str, field: str, *, max_chars: int | None = _fields.MAX_TEXT
) -> str | None:
    return _fields.string({camel: _either(obj, camel)}, camel, field, required=False, max_chars=max_chars)


def parse_budget_notification(message: PubsubMessage) -> BudgetNotification:
    data = _fields.require_mapping(message.json(), "message.data")
    attributes = message.attributes
    currency = _text(data, "currencyCode", "data.currencyCode").upper()
    if not _CURRENCY.fullmatch(currency):
        raise EventParseError(f"expected an ISO 4217 code, got {currency!r:.20}", field="data.currencyCode")
    interval = _either(data, "costIntervalStart")
    notification = BudgetNotification(
        event_id=message.event_id,
        # Only shown (and linked when it has the id's form): an odd one must not silence a real alert.
        billing_account_id=_text(attributes, "billingAccountId", "attributes.billingAccountId", max_chars=None),
        budget_id=_text(attributes, "budgetId", "attributes.budgetId"),
        # Only compared and shown ("schemaVersion 2.0 is not one we know")
        schema_version=_optional_text(attributes, "schemaVersion", "attributes.schemaVersion", max_chars=None) or "1.0",
        # Only shown: a name of any length still alerts (Slack's text is cut, saying so).
        budget_name=_text(data, "budgetDisplayName", "data.budgetDisplayName", max_chars=None),
        cost_amount=_required_number(data, "costAmount", "data.costAmount"),
        budget_amount=_required_number(data, "budgetAmount", "data.budgetAmount"),
        budget_amount_type=_optional_text(data, "budgetAmountType", "data.budgetAmountType", max_chars=None)
        or "SPECIFIED_AMOUNT",
        currency=currency,
        cost_interval_start=_fields.timestamp({"t": interval}, "t", "data.costIntervalStart"),  # type: ignore[arg-type]
        alert_threshold=_number(data, "alertThresholdExceeded", "data.alertThresholdExceeded", maximum=MAX_THRESHOLD),
        forecast_threshold=_number(
            data, "forecastThresholdExceeded", "data.forecastThresholdExceeded", maximum=MAX_THRESHOLD
        ),
        published=message.publish_time,
    )
    _check_crossed(notification)
    return notification


def _check_crossed(notification: BudgetNotification) -> None:
    threshold, cost, budget = notification.alert_threshold, notification.cost_amount, notification.budget_amount
    if threshold is not None and budget > 0 and cost / budget < threshold - _CROSSING_TOLERANCE:
        raise EventParseError(
            f"{threshold:g} is not crossed by the cost ({cost:g} of a budget of {budget:g})",
            field="data.alertThresholdExceeded",
        )
