"""Every alert is actionable: a severity, a runbook that exists, someone to tell.

GIVEN the alert policies of terraform/modules/monitoring and the alarms and budget of
terraform/modules/aws-monitoring, as written in the .tf files (python-hcl2)
THEN each has a severity label p0/p1/p2, names a runbook whose docs/runbooks/<runbook>.md exists and is
linked from its documentation (or alarm description), and notifies the channels of its severity, P0
never silenced by shadow mode; and docs/runbooks/README.md indexes every runbook.
(terraform test asserts the same on the planned values: modules/monitoring/tests, environment/gcp/tests.)
"""

from __future__ import annotations

import re

import pytest
from prometheus_client import generate_latest

from mlops_inference.metrics import ServiceMetrics
from tests.support.terraform_contract import Terraform, text
from tooling.manifest import REPO_ROOT

TERRAFORM = REPO_ROOT / "terraform"
RUNBOOKS = REPO_ROOT / "docs" / "runbooks"
GCP = Terraform.parse(TERRAFORM / "modules" / "monitoring")
AWS = Terraform.parse(TERRAFORM / "modules" / "aws-monitoring")
POLICIES = GCP.of("resource", "google_monitoring_alert_policy")
SEVERITY = re.compile(r'severity\s*=\s*"(p[012])"')
RUNBOOK = re.compile(r'runbook\s*=\s*"([a-z0-9-]+)"')
SHADOW = re.compile(r"shadow\s*=\s*(\S+?)[\s}]")


def _one(pattern: re.Pattern[str], value: str, what: str) -> str:
    found = pattern.findall(value)
    assert len(found) == 1, f"{what}: expected one match of {pattern.pattern} in {value}"
    return found[0]


def test_there_are_policies():
    assert len(POLICIES) >= 15


@pytest.mark.parametrize("policy", POLICIES, ids=lambda b: b.name)
def test_gcp_policy_has_severity_runbook_and_channels(policy):
    labels = text(policy.body["user_labels"])
    severity = _one(SEVERITY, labels, policy.name)
    runbook = _one(RUNBOOK, labels, policy.name)
    assert (RUNBOOKS / f"{runbook}.md").is_file(), f"{policy.name}: docs/runbooks/{runbook}.md is missing"

    (documentation,) = policy.body["documentation"]
    assert text(documentation["mime_type"]) == "text/markdown"
    assert f"${{local.runbook}}{runbook}.md" in documentation["content"], "the markdown links the runbook"
    assert f"[{severity.upper()}]" in documentation["subject"]
    (link,) = documentation["links"]
    assert text(link["url"]) == f"${{local.runbook}}{runbook}.md"

    # The channels of its severity; P1/P2 carry the shadow flag, P0 is never shadowed.
    assert text(policy.body["notification_channels"]) == f"local.channels.{severity}"
    shadow = _one(SHADOW, labels, policy.name)
    assert shadow == ('"false"' if severity == "p0" else "local.shadow")


def test_the_channels_of_each_severity_and_shadow_mode():
    channels = GCP.locals[TERRAFORM / "modules" / "monitoring"]["channels"]
    assert text(channels["p0"]) == "concat(local.pagerduty, local.email, local.slack)"
    assert text(channels["p1"]) == "var.monitoring_shadow_mode ? [] : concat(local.email, local.slack)"
    assert text(channels["p2"]) == "var.monitoring_shadow_mode ? [] : local.slack"


def test_aws_alarms_and_budget_have_severity_and_runbook():
    main = (TERRAFORM / "modules" / "aws-monitoring" / "main.tf").read_text()
    alarms = text(AWS.locals[TERRAFORM / "modules" / "aws-monitoring"]["alarms"])
    entries = re.findall(r'severity = "(p[012])", runbook = "([a-z0-9-]+)"', alarms)
    assert len(entries) == 5
    budget = [b for b in AWS.of("resource", "aws_budgets_budget")]
    entries.append(
        (_one(SEVERITY, text(budget[0].body["tags"]), "budget"), _one(RUNBOOK, text(budget[0].body["tags"]), "budget"))
    )
    for _severity, runbook in entries:
        assert (RUNBOOKS / f"{runbook}.md").is_file(), f"docs/runbooks/{runbook}.md is missing"
    for alarm in AWS.of("resource", "aws_cloudwatch_metric_alarm"):
        assert "Runbook: ${local.runbook}${each.value.runbook}.md" in alarm.body["alarm_description"]
        assert [text(action) for action in alarm.body["alarm_actions"]] == ["aws_sns_topic.alarms.arn"]
    assert "kms_master_key_id = aws_kms_key.alarms.arn" in re.sub(r"\s+", " ", main)


def test_every_runbook_is_indexed_and_every_index_link_exists():
    index = (RUNBOOKS / "README.md").read_text()
    pages = {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"}
    linked = set(re.findall(r"\]\(([a-z0-9-]+\.md)\)", index))
    assert pages == linked


def test_every_promql_policy_reads_metrics_the_inference_service_exports():
    # GIVEN the metric names the PromQL policies query, and the service's own registry as /metrics shows it
    queried = set()
    for policy in POLICIES:
        for condition in policy.body["conditions"]:
            for promql in condition.get("condition_prometheus_query_language", []):
                queried |= set(re.findall(r"\binference_[a-z_]+\b", text(promql["query"])))
    exported = set(re.findall(r"^# TYPE (\S+) ", generate_latest(ServiceMetrics().registry).decode(), re.M))
    # THEN every queried series is one the service exports (a rename breaks the build, not the pager)
    assert queried >= {"inference_low_confidence_share", "inference_feedback_accuracy", "inference_feedback_labels"}
    assert queried <= exported, f"queried but never exported: {sorted(queried - exported)}"
