"""monitoring_alert: Cloud Monitoring's incident notifications parsed, and posted once per incident and state.

The parser is fed the saved notifications (events/monitoring/, schema 1.2 as Cloud Monitoring documents
it) and hypothesis-drawn hostile ones; the use case runs against the project's fakes of its ports.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import monitoring_alert
from shared import slack_format as slack
from shared.errors import EventParseError, TransientError
from shared.outcome import Status
from shared.payloads.monitoring import IncidentNotification, IncidentState, parse_incident_notification
from shared.payloads.pubsub import PubsubMessage
from tests.support.fakes import FakeDeps
from tooling.manifest import REPO_ROOT

EVENTS = REPO_ROOT / "events" / "monitoring"
OUR_LINK = re.compile(r"<https://console\.cloud\.google\.com/[^\s<>|]*\|[^<>]*>")


def saved(name: str) -> dict[str, Any]:
    """The notification JSON inside a saved fixture (structured or binary CloudEvent)."""
    document = json.loads((EVENTS / name).read_text())
    data = document.get("data") or document["body"]
    return json.loads(base64.b64decode(data["message"]["data"]))


def message(body: Any, *, raw: bytes | None = None) -> PubsubMessage:
    data = raw if raw is not None else json.dumps(body).encode()
    return PubsubMessage(event_id="m1", message_id="m1", publish_time=None, data=data)


def parsed(body: dict[str, Any]) -> IncidentNotification:
    return parse_incident_notification(message(body))


OPEN = saved("01-open-p1-latency.structured.json")
CLOSED = saved("03-closed-p1-latency.structured.json")


def with_incident(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    body["incident"].update(changes)
    return body


def injected(text: str) -> list[str]:
    return [token for token in re.findall(r"<[^<>]*>", text) if not OUR_LINK.fullmatch(token)]


def strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


# --- the parser --------------------------------------------------------------------------------------


def test_the_documented_fields_of_an_open_incident_are_read():
    incident = parsed(OPEN)
    assert (incident.incident_id, incident.state, incident.schema_version) == (
        "0.nxs2kq4dv7te",
        IncidentState.OPEN,
        "1.2",
    )
    assert incident.policy_name == "inference p95 latency > 2 s"
    assert incident.condition_name == "Cloud Run Revision - Request Latencies [95TH PERCENTILE]"
    assert (incident.observed_value, incident.threshold_value) == ("3412.500", "2000")
    assert incident.started_at == datetime.fromtimestamp(1795161600, UTC) and incident.ended_at is None
    assert incident.severity == "p1" and incident.scoping_project_id == "mlops-events-prod"
    assert incident.documentation_subject == "[P1] inference p95 latency > 2 s"
    assert "Runbook:" in (incident.documentation_content or "")
    assert (incident.resource, incident.metric) == ("inference", "Request Latencies")
    assert incident.key == "monitoring:0.nxs2kq4dv7te/open"


def test_a_closed_incident_has_its_end_and_its_own_key():
    incident = parsed(CLOSED)
    assert incident.state is IncidentState.CLOSED
    assert incident.ended_at == datetime.fromtimestamp(1795163400, UTC)
    assert incident.key == "monitoring:0.nxs2kq4dv7te/closed"


def test_the_2020_shape_without_project_values_or_console_url_is_read():
    incident = parsed(saved("04-open-uptime-2020-shape.binary.json"))
    assert incident.scoping_project_id is None and incident.observed_value is None
    assert incident.condition_name == "Uptime Health Check on inference" and incident.severity is None


def test_the_policy_severity_field_stands_in_when_no_severity_label_is_set():
    incident = parsed(saved("06-open-severity-field-and-subject.structured.json"))
    assert incident.severity == "Critical"
    labelled = parsed(with_incident(OPEN, severity="Critical"))
    assert labelled.severity == "p1"  # our policies' label wins


def test_unknown_fields_are_tolerated_and_state_and_numbers_read_as_sent():
    body = with_incident(OPEN, state="OPEN", observed_value=3412.5, threshold_value=2000, new_field={"x": [1]})
    body["future_top_level"] = True
    incident = parsed(body)
    assert (incident.state, incident.observed_value, incident.threshold_value) == (IncidentState.OPEN, "3412.5", "2000")


def test_a_missing_version_is_read_as_1_2_and_another_one_is_kept_to_be_told():
    body = copy.deepcopy(OPEN)
    del body["version"]
    assert parsed(body).schema_known
    other = parsed({**OPEN, "version": "1.1"})
    assert (other.schema_version, other.schema_known) == ("1.1", False)


def test_the_condition_display_name_stands_in_for_a_missing_condition_name():
    body = copy.deepcopy(OPEN)
    del body["incident"]["condition_name"]
    assert parsed(body).condition_name == OPEN["incident"]["condition"]["displayName"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"incident_id": None}, "incident.incident_id: is missing"),
        ({"incident_id": 42}, "incident.incident_id: expected a string"),
        ({"incident_id": "0.a\nb"}, "incident.incident_id: holds a control character"),
        ({"incident_id": "x" * 257}, "incident.incident_id: is 257 characters long"),
        ({"state": None}, "incident.state: is missing"),
        ({"state": "firing"}, "incident.state: expected one of open, closed, acknowledged"),
        ({"state": "o" * 33}, "incident.state: is 33 characters long"),
        ({"started_at": "yesterday"}, "incident.started_at: expected a number"),
        ({"started_at": -5}, "incident.started_at: expected a finite number"),
        ({"ended_at": 1e12}, "incident.ended_at: expected a finite number"),
        ({"ended_at": True}, "incident.ended_at: expected a number"),
        ({"policy_name": ["a"]}, "incident.policy_name: expected a string"),
        ({"summary": {"a": 1}}, "incident.summary: expected a string"),
        ({"url": 7}, "incident.url: expected a string"),
        ({"observed_value": "9" * 101}, "incident.observed_value: is 101 characters long"),
        ({"threshold_value": []}, "incident.threshold_value: expected a string"),
        ({"condition": "cpu"}, "incident.condition: expected a JSON object"),
        ({"documentation": ["x"]}, "incident.documentation: expected a JSON object"),
        ({"documentation": {"content": 5}}, "incident.documentation.content: expected a string"),
        ({"resource": 1}, "incident.resource: expected a JSON object"),
        ({"metric": {"displayName": False}}, "incident.metric.displayName: expected a string"),
        ({"policy_user_labels": "p1"}, "incident.policy_user_labels: expected an object of strings"),
        ({"policy_user_labels": {"severity": ["p1"]}}, "incident.policy_user_labels.severity: must be a string"),
        ({"severity": 3}, "incident.severity: expected a string"),
        ({"incident_id": "0.\ud800"}, "incident.incident_id: is not valid UTF-8 text"),
    ],
)
def test_a_bad_field_is_rejected_naming_it(change, field):
    with pytest.raises(EventParseError) as raised:
        parsed(with_incident(OPEN, **change))
    assert field in str(raised.value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "1.2"}, "incident: expected a JSON object"),
        ({"incident": "open", "version": "1.2"}, "incident: expected a JSON object"),
        ([OPEN], "message.data: expected a JSON object"),
        ({**OPEN, "version": {"major": 1}}, "version: expected a string"),
    ],
)
def test_a_bad_envelope_is_rejected_naming_it(body, field):
    with pytest.raises(EventParseError) as raised:
        parsed(body)
    assert field in str(raised.value)


def test_data_that_is_not_json_is_rejected():
    with pytest.raises(EventParseError, match=r"message\.data: is not valid UTF-8 JSON"):
        parse_incident_notification(message(None, raw=b"incident opened!"))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)
INCIDENT_KEYS = sorted(OPEN["incident"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    replaced=st.dictionaries(st.sampled_from(INCIDENT_KEYS), JSON, max_size=4),
    removed=st.sets(st.sampled_from(INCIDENT_KEYS), max_size=4),
    top=st.none() | JSON,
)
def test_no_payload_makes_the_parser_raise_anything_but_our_own_error(replaced, removed, top):
    body = with_incident(OPEN, **replaced)
    for key in removed:
        body["incident"].pop(key, None)
    if top is not None:
        body = top if isinstance(top, list) else {**body, "version": top}
    try:
        incident = parsed(body)
    except EventParseError as exc:
        assert exc.field and str(exc).startswith(exc.field)  # every rejection names its field
    else:
        assert incident.incident_id and incident.state in IncidentState


# --- the Slack message ------------------------------------------------------------------------------

HOSTILE = (
    st.sampled_from(
        [
            "<!channel>",
            "<@U0123ABC>",
            "<https://evil.example|click>",
            "a|b>c<d",
            "&amp; &lt;",
            "\u202eevil\u200f",
            "\x00\x07\x1b[31m",
            "line\nbreak\ttab",
            "*bold* _it_ `code` ~x~",
            "https://evil.example/phish #general",
            "\U0001f600" * 3,
        ]
    )
    | st.text(max_size=60)
    | st.builds(lambda s, n: s * n, st.sampled_from(["<!here>", "x", "é"]), st.integers(1, 20_000))
)
SHOWN = ["policy_name", "condition_name", "summary", "resource_display_name", "scoping_project_id"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    values=st.fixed_dictionaries({key: HOSTILE for key in SHOWN}),
    subject=HOSTILE,
    content=HOSTILE,
    severity=HOSTILE,
    observed=HOSTILE.map(lambda s: s[:100]),
    url=st.sampled_from(
        [
            "https://console.cloud.google.com/monitoring/alerting/incidents/0.x?project=p",
            "https://console.cloud.google.com/monitoring/x|<!channel>",
            "https://console.cloud.google.com.evil.example/monitoring",
            "https://console.cloud.google.com@evil.example/monitoring",
            "https://console.cloud.google.com:8443/monitoring",
            "http://console.cloud.google.com/monitoring",
            "https://evil.example/monitoring",
            "javascript:alert(1)",
            "https://console.cloud.google.com/monitoring/ü",
        ]
    ),
    state=st.sampled_from(["open", "closed"]),
)
def test_hostile_text_in_every_outside_field_reaches_slack_escaped_and_within_its_limits(
    values, subject, content, severity, observed, url, state
):
    body = with_incident(
        OPEN,
        **{k: v or "x" for k, v in values.items()},
        state=state,
        url=url,
        observed_value=observed or "1",
        documentation={"subject": subject or "s", "content": content or "c", "mime_type": "text/markdown"},
        policy_user_labels={"severity": (severity or "p1")[:1024]},
    )
    payload = monitoring_alert.render(parsed(body))
    for text in strings(payload):
        assert injected(text) == [], text[:300]
    assert slack._units(payload["text"]) <= slack.TEXT_MAX
    for block in payload["blocks"]:
        if block["type"] == "header":
            assert slack._units(block["text"]["text"]) <= slack.HEADER_MAX
        for element in block.get("elements", []) + (
            [block["text"]] if block["type"] == "section" and "text" in block else []
        ):
            assert slack._units(element["text"]) <= slack.SECTION_MAX
        for element in block.get("fields", []):
            assert slack._units(element["text"]) <= slack.FIELD_MAX


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://console.cloud.google.com/monitoring/alerting/incidents/0.a?project=p", True),
        ("https://console.cloud.google.com/monitoring/alerting/alerts/0.a?channelType=pubsub&project=p", True),
        ("https://app.google.stackdriver.com/incidents/0.a?project=p", False),
        ("https://console.cloud.google.com.evil.example/x", False),
        ("https://user@console.cloud.google.com/x", False),
        ("https://console.cloud.google.com/x y", False),
        ("http://console.cloud.google.com/x", False),
        (None, False),
    ],
)
def test_only_an_https_cloud_console_url_becomes_a_link(url, linked):
    payload = monitoring_alert.render(parsed(with_incident(OPEN, url=url)))
    context = payload["blocks"][-1]["elements"][0]["text"]
    assert (context.startswith("<https://console.cloud.google.com/")) is linked
    assert ("(no console link)" in context) is not linked
    if url and "&" in url:
        assert "&amp;project=p|" in context  # Slack's entity marker in a URL, decoded back when opened


def test_the_open_message_carries_severity_policy_condition_summary_values_and_runbook():
    payload = monitoring_alert.render(parsed(OPEN))
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in payload["blocks"][2]["fields"]}
    assert payload["blocks"][0]["text"]["text"] == "[P1] Incident: inference p95 latency \u203a 2 s"
    assert fields["*Severity*"] == "P1" and fields["*Observed*"] == "3412.500" and fields["*Threshold*"] == "2000"
    assert fields["*Started*"] == "2026-11-20 08:00:00 UTC" and "*Ended*" not in fields
    assert "Runbook: docs/runbooks/inference-latency.md" in payload["blocks"][3]["text"]["text"]
    assert payload["text"].startswith("[P1] inference p95 latency &gt; 2 s: incident opened: Request Latencies")


def test_the_closed_message_says_resolved_with_its_end_and_duration():
    payload = monitoring_alert.render(parsed(CLOSED))
    assert payload["blocks"][0]["text"]["text"].startswith("[P1] Resolved: inference p95 latency")
    assert "resolved after 30 min" in payload["text"]
    assert any(f["text"] == "*Ended*\n2026-11-20 08:30:00 UTC" for f in payload["blocks"][2]["fields"])


# --- the use case -----------------------------------------------------------------------------------


@pytest.fixture
def deps() -> FakeDeps:
    return FakeDeps()


def test_an_incident_posts_once_when_it_opens_and_once_when_it_closes(deps):
    assert monitoring_alert.handle(parsed(OPEN), deps).status is Status.APPLIED
    again = monitoring_alert.handle(parsed(OPEN), deps)  # a redelivery, or the channel's repeat
    assert (again.status, again.detail) == (
        Status.DUPLICATE,
        "inference p95 latency > 2 s: incident 0.nxs2kq4dv7te opened was already posted",
    )
    closed = monitoring_alert.handle(parsed(CLOSED), deps)
    assert closed.status is Status.APPLIED and closed.key == "monitoring:0.nxs2kq4dv7te/closed"
    assert monitoring_alert.handle(parsed(CLOSED), deps).status is Status.DUPLICATE
    assert [p["blocks"][0]["text"]["text"][:20] for p in deps.notifier.posts] == [
        "[P1] Incident: infer",
        "[P1] Resolved: infer",
    ]


def test_acknowledged_posts_nothing(deps):
    outcome = monitoring_alert.handle(parsed(with_incident(OPEN, state="acknowledged")), deps)
    assert outcome.status is Status.IGNORED and "acknowledged" in outcome.detail
    assert deps.notifier.posts == [] and deps.idempotency.entries == {}


def test_an_open_delivered_after_its_close_stays_quiet(deps):
    monitoring_alert.handle(parsed(CLOSED), deps)
    late = monitoring_alert.handle(parsed(OPEN), deps)
    assert late.status is Status.IGNORED and "already posted resolved" in late.detail
    assert len(deps.notifier.posts) == 1


def test_another_incident_of_the_same_policy_posts_its_own_message(deps):
    monitoring_alert.handle(parsed(OPEN), deps)
    other = monitoring_alert.handle(parsed(with_incident(OPEN, incident_id="0.other")), deps)
    assert other.status is Status.APPLIED and len(deps.notifier.posts) == 2


def test_slack_down_releases_the_claim_so_the_redelivery_posts(deps):
    deps.notifier.failures = 1
    with pytest.raises(TransientError):
        monitoring_alert.handle(parsed(OPEN), deps)
    assert deps.notifier.posts == [] and deps.alert_ledger.highest_by_scope == {}
    assert monitoring_alert.handle(parsed(OPEN), deps).status is Status.APPLIED
    assert len(deps.notifier.posts) == 1


def test_an_unknown_version_is_posted_and_said(deps):
    outcome = monitoring_alert.handle(parsed({**OPEN, "version": "1.1"}), deps)
    assert outcome.status is Status.APPLIED and "version 1.1 is not one we know; read as 1.2" in outcome.detail


def test_a_huge_incident_id_or_policy_is_cut_in_the_detail(deps):
    outcome = monitoring_alert.handle(
        parsed(with_incident(OPEN, incident_id="i" * 256, policy_name="p" * 10_000)), deps
    )
    assert len(outcome.detail) < 500 and "cut" in outcome.detail
