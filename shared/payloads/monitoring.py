"""Cloud Monitoring incident notifications, as a Pub/Sub notification channel publishes them.

The message's data is the notification JSON that Cloud Monitoring also sends to webhooks, schema version
1.2: `{"version": "1.2", "incident": {...}}` (Create and manage notification channels, "Schema
structure"). The incident carries incident_id, scoping_project_id, scoping_project_number, url,
started_at and ended_at (Unix seconds; ended_at null while open), state, summary, the resource and
metric, policy_name, policy_user_labels, condition_name and condition, documentation {content,
mime_type, subject}, observed_value and threshold_value (strings). Which fields are present depends on
the policy, the condition and the incident's state: only incident_id and state are required here;
older 1.2 payloads (2020) lack the scoping project, the values and a console URL, and still alert.

Cloud Monitoring notifies when an incident opens and when it closes (the API's NotificationPrompt:
OPENED, CLOSED); `acknowledged`, the console's third incident state, is read and posts nothing. Unknown
fields are tolerated; a version other than 1.2 is read as 1.2 and said so in the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.errors import EventParseError
from shared.payloads import _fields
from shared.payloads.pubsub import PubsubMessage

KNOWN_SCHEMA_VERSIONS = frozenset({"1.2"})
MAX_STATE = 32  # "open", "closed", "acknowledged": anything longer is no state
MAX_VALUE = 100  # observed_value / threshold_value: a number as text ("0.835")
SEVERITY_LABEL = "severity"  # the policy user label our alert policies set (P0, P1, P2)


class IncidentState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True)
class IncidentNotification:
    event_id: str
    schema_version: str
    incident_id: str
    state: IncidentState
    policy_name: str | None = None
    condition_name: str | None = None
    summary: str | None = None
    url: str | None = None
    scoping_project_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    observed_value: str | None = None
    threshold_value: str | None = None
    resource: str | None = None
    metric: str | None = None
    documentation_subject: str | None = None
    documentation_content: str | None = None
    policy_user_labels: dict[str, str] = field(default_factory=dict)
    policy_severity: str | None = None  # the policy's own severity field ("Critical"), newer payloads only
    published: datetime | None = None

    @property
    def severity(self) -> str | None:
        """The `severity` policy user label (our policies' P0/P1/P2), else the policy's severity field."""
        return self.policy_user_labels.get(SEVERITY_LABEL) or self.policy_severity

    @property
    def schema_known(self) -> bool:
        return self.schema_version in KNOWN_SCHEMA_VERSIONS

    @property
    def key(self) -> str:
        """One message per incident and state: redeliveries and repeated notifications post nothing."""
        return f"monitoring:{self.incident_id}/{self.state}"


def _object(obj: Mapping[str, Any], key: str, field_name: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return {} if value is None else _fields.require_mapping(value, field_name)


def _shown(obj: Mapping[str, Any], key: str, field_name: str) -> str | None:
    """Text that is only shown: any length (cut where it is shown, saying so)."""
    return _fields.string(obj, key, field_name, required=False, max_chars=None)


def _value(obj: Mapping[str, Any], key: str, field_name: str) -> str | None:
    """observed_value / threshold_value: documented as strings ("0.835"); a JSON number is taken as its text."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = repr(value)
    if not isinstance(value, str):
        raise EventParseError(f"expected a string, got {type(value).__name__}", field=field_name)
    return _fields.bounded_text(value, field_name, max_chars=MAX_VALUE, shown_only=True)


def _epoch(obj: Mapping[str, Any], key: str, field_name: str) -> datetime | None:
    """started_at / ended_at: Unix seconds (null while an incident is open)."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    seconds = _fields.finite_number(value, field_name, maximum=_fields.LATEST.timestamp() - 1)
    return datetime.fromtimestamp(seconds, UTC)


def _state(incident: Mapping[str, Any]) -> IncidentState:
    raw = _fields.required_string(incident, "state", "incident.state", max_chars=MAX_STATE)
    try:
        return IncidentState(raw.strip().lower())
    except ValueError:
        expected = ", ".join(s.value for s in IncidentState)
        raise EventParseError(f"expected one of {expected}, got {raw!r}", field="incident.state") from None


def parse_incident_notification(message: PubsubMessage) -> IncidentNotification:
    data = _fields.require_mapping(message.json(), "message.data")
    incident = _fields.require_mapping(data.get("incident"), "incident")
    version = data.get("version")
    if isinstance(version, int | float) and not isinstance(version, bool):
        version = str(version)
    schema_version = _fields.string({"v": version}, "v", "version", required=False, max_chars=MAX_STATE) or "1.2"
    condition = _object(incident, "condition", "incident.condition")
    documentation = _object(incident, "documentation", "incident.documentation")
    resource = _object(incident, "resource", "incident.resource")
    metric = _object(incident, "metric", "incident.metric")
    return IncidentNotification(
        event_id=message.event_id,
        schema_version=schema_version,
        # The idempotency key's part: an id's length, no control character.
        incident_id=_fields.required_string(incident, "incident_id", "incident.incident_id", max_chars=_fields.MAX_ID),
        state=_state(incident),
        policy_name=_shown(incident, "policy_name", "incident.policy_name"),
        condition_name=_shown(incident, "condition_name", "incident.condition_name")
        or _shown(condition, "displayName", "incident.condition.displayName"),
        summary=_shown(incident, "summary", "incident.summary"),
        # Only linked once it passes as a console URL (handlers.monitoring_alert), else shown as text.
        url=_shown(incident, "url", "incident.url"),
        scoping_project_id=_shown(incident, "scoping_project_id", "incident.scoping_project_id"),
        started_at=_epoch(incident, "started_at", "incident.started_at"),
        ended_at=_epoch(incident, "ended_at", "incident.ended_at"),
        observed_value=_value(incident, "observed_value", "incident.observed_value"),
        threshold_value=_value(incident, "threshold_value", "incident.threshold_value"),
        resource=_shown(incident, "resource_display_name", "incident.resource_display_name")
        or _shown(incident, "resource_name", "incident.resource_name")
        or _shown(resource, "type", "incident.resource.type"),
        metric=_shown(metric, "displayName", "incident.metric.displayName")
        or _shown(metric, "type", "incident.metric.type"),
        documentation_subject=_shown(documentation, "subject", "incident.documentation.subject"),
        documentation_content=_shown(documentation, "content", "incident.documentation.content"),
        policy_user_labels=_fields.string_map(incident, "policy_user_labels", "incident.policy_user_labels"),
        policy_severity=_shown(incident, "severity", "incident.severity"),
        published=message.publish_time,
    )
