"""A Cloud Monitoring incident becomes one Slack message when it opens and one when it closes, never two.

Cloud Monitoring notifies a Pub/Sub channel when an incident opens and when it closes; Pub/Sub
delivers at least once. Each (incident, state) is posted once: claim, post, confirm, as budget_alert
does. The alert ledger remembers how far each incident got, so an `open` delivered after its `closed`
(a redelivery that lost the race) does not announce a resolved incident as new. An `acknowledged`
state posts nothing: Cloud Monitoring sends no notification for it, and the people who acknowledged
it know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from shared import slack_format as slack
from shared.idempotency import run_once
from shared.outcome import Outcome
from shared.payloads.monitoring import IncidentNotification, IncidentState

if TYPE_CHECKING:
    from datetime import datetime

    from shared.ports import AlertLedger, Clock, IdempotencyStore, SlackNotifier

CONSOLE_HOST = "console.cloud.google.com"
# How far an incident got, in the alert ledger: a state below the recorded one is stale.
_PROGRESS = {IncidentState.OPEN: 1.0, IncidentState.CLOSED: 2.0}
DOCUMENTATION_MAX = 1500  # the policy's runbook text in the message; the link has the rest
SUBJECT_MAX = 255  # Cloud Monitoring's own limit on a documentation subject


class MonitoringAlertSettings(Protocol):
    @property
    def claim_ttl_s(self) -> float: ...


class MonitoringAlertDeps(Protocol):
    @property
    def settings(self) -> MonitoringAlertSettings: ...
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def alert_ledger(self) -> AlertLedger: ...
    @property
    def notifier(self) -> SlackNotifier: ...
    @property
    def clock(self) -> Clock: ...


def console_link(notification: IncidentNotification) -> str | None:
    """`<url|Open the incident>` when the payload's URL is an https Cloud Console URL Slack text can carry.

    Older payloads link app.google.stackdriver.com, and a forged one could link anywhere: those get no
    link (the incident id is shown as text instead).
    """
    address = notification.url
    if not address:
        return None
    try:
        parts = urlsplit(address)
        if (parts.scheme, parts.hostname, parts.port, parts.username) != ("https", CONSOLE_HOST, None, None):
            return None
        if parts.netloc != CONSOLE_HOST:
            return None
        return slack.link(address, "Open the incident in Cloud Monitoring")
    except ValueError:  # not a URL, or one slack.link refuses (whitespace, `|`, `<`, non-ASCII, too long)
        return None


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "n/a"


def _duration(notification: IncidentNotification) -> str | None:
    start, end = notification.started_at, notification.ended_at
    if start is None or end is None or end < start:
        return None
    minutes = round((end - start).total_seconds() / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _label(notification: IncidentNotification) -> str:
    return slack.cut(notification.policy_name or "(unnamed policy)")


def render(notification: IncidentNotification) -> dict[str, Any]:
    """The incoming-webhook payload: a plain `text` fallback and the Block Kit blocks.

    Every value from the notification goes in through `slack.text` (escaped, cut) or `slack.plain`
    (the header); the only link is the console's, checked by `console_link`.
    """
    policy = slack.text(notification.policy_name or "(unnamed policy)")
    # GCP label values are lower case ("p1"); the policy's severity field is an enum ("Critical").
    severity = notification.severity.upper() if notification.severity else None
    tag = f"[{slack.plain(severity, 20)}] " if severity else ""
    tag_text = f"[{slack.text(severity, 20)}] " if severity else ""
    condition = slack.text(notification.condition_name or "(condition not named)")
    summary = slack.text(notification.summary, 1000) if notification.summary else None
    closed = notification.state is IncidentState.CLOSED
    if closed:
        took = _duration(notification)
        what = f"resolved{f' after {took}' if took else ''}"
        header = f"{tag}Resolved: {slack.plain(notification.policy_name or '(unnamed policy)', 100)}"
    else:
        what = "opened"
        header = f"{tag}Incident: {slack.plain(notification.policy_name or '(unnamed policy)', 100)}"
    text = f"{tag_text}{policy}: incident {what}" + (f": {summary}" if summary else "")
    pairs = [
        ("Severity", slack.text(severity, slack.ID_MAX) if severity else "none set"),
        ("Condition", condition),
        ("Observed", slack.text(notification.observed_value, slack.ID_MAX) if notification.observed_value else "n/a"),
        (
            "Threshold",
            slack.text(notification.threshold_value, slack.ID_MAX) if notification.threshold_value else "n/a",
        ),
        ("Started", _when(notification.started_at)),
    ]
    if closed:
        pairs.append(("Ended", _when(notification.ended_at)))
    if notification.resource:
        pairs.append(("Resource", slack.text(notification.resource)))
    if notification.metric:
        pairs.append(("Metric", slack.text(notification.metric)))
    blocks = [
        slack.header(header),
        slack.section(f"*{policy}*: incident {what}." + (f"\n{summary}" if summary else "")),
        slack.fields(pairs),
    ]
    if not closed and (notification.documentation_subject or notification.documentation_content):
        lines = []
        if notification.documentation_subject:
            lines.append(f"*{slack.text(notification.documentation_subject, SUBJECT_MAX)}*")
        if notification.documentation_content:
            lines.append(slack.text(notification.documentation_content, DOCUMENTATION_MAX, multiline=True))
        blocks.append(slack.section("\n".join(lines)))
    incident = f"incident `{slack.text(notification.incident_id, slack.ID_MAX)}`"
    link = console_link(notification)
    where = f"{link} · {incident}" if link else f"{incident} (no console link)"
    if notification.scoping_project_id:
        where += f" · project `{slack.text(notification.scoping_project_id, slack.ID_MAX)}`"
    blocks.append(slack.context(where))
    return {"text": slack.fallback(text), "blocks": blocks}


def handle(notification: IncidentNotification, deps: MonitoringAlertDeps) -> Outcome:
    label = f"{_label(notification)}: incident {slack.cut(notification.incident_id, slack.ID_MAX)}"
    key = notification.key
    if notification.state is IncidentState.ACKNOWLEDGED:
        return Outcome.ignored(f"{label} acknowledged: only opening and closing are posted", key=key)
    scope = f"monitoring:{notification.incident_id}"
    progress = _PROGRESS[notification.state]
    reached = deps.alert_ledger.highest(scope)
    if reached is not None and progress < reached:
        return Outcome.ignored(f"{label} opened, but it was already posted resolved", key=key)

    def post() -> dict[str, Any]:
        deps.notifier.post(render(notification))
        deps.alert_ledger.raise_to(scope, progress, now=deps.clock())
        return {"posted": True}

    what = "resolved" if notification.state is IncidentState.CLOSED else "opened"
    fresh, _ = run_once(deps.idempotency, key, post, clock=deps.clock, claim_ttl_s=deps.settings.claim_ttl_s)
    detail = f"posted {label} {what} to Slack" if fresh else f"{label} {what} was already posted"
    if not notification.schema_known:
        version = slack.cut(notification.schema_version, slack.ID_MAX)
        detail += f" (version {version} is not one we know; read as 1.2)"
    return Outcome.applied(detail, key=key) if fresh else Outcome.duplicate(detail, key=key)
