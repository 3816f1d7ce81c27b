"""The local cloud's commands where no cloud runs: clear errors, no side effect."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from tooling.cli.main import cli


def test_trigger_without_a_running_up_says_how_to_start_one(tmp_path):
    # GIVEN a state dir no `up` runs from WHEN a job is triggered THEN a clear error, exit 1
    result = CliRunner().invoke(cli, ["trigger", "drift-report", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no local cloud runs from" in result.output and "mlops-events up" in result.output


def test_trigger_names_a_dead_control_endpoint(tmp_path):
    # GIVEN an up.json left by an `up` that no longer answers
    (tmp_path / "up.json").write_text(json.dumps({"pid": 1, "control_url": "http://127.0.0.1:9"}))
    result = CliRunner().invoke(cli, ["trigger", "drift-report", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "does not answer" in result.output


def test_up_refuses_to_start_beside_a_running_one(tmp_path):
    # GIVEN an up.json whose process is alive (this test's own pid stands in for it)
    (tmp_path / "up.json").write_text(json.dumps({"pid": os.getpid(), "control_url": "http://127.0.0.1:9"}))
    result = CliRunner().invoke(cli, ["up", "--state-dir", str(tmp_path)])
    # THEN it stops before starting anything, naming the running one
    assert result.exit_code == 1
    assert f"already runs from {tmp_path} (pid {os.getpid()})" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["up.json"]


def test_up_rejects_a_backoff_scale_that_is_not_positive(tmp_path):
    result = CliRunner().invoke(cli, ["up", "--state-dir", str(tmp_path), "--backoff-scale", "0"])
    assert result.exit_code == 2
    assert "--backoff-scale" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sinks", ["csv", "parquet,parquet", "parquet,"])
def test_up_rejects_an_unknown_or_repeated_capture_sink_before_anything_starts(tmp_path, sinks):
    result = CliRunner().invoke(cli, ["up", "--state-dir", str(tmp_path), "--inference-capture", sinks])
    assert result.exit_code == 2
    assert "--inference-capture" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_bad_cron_in_the_manifest_fails_before_anything_starts(tmp_path):
    import dataclasses

    from tooling.localcloud.cron import CronError
    from tooling.localcloud.up import LocalCloud, UpOptions
    from tooling.manifest import load_manifest

    # GIVEN the manifest with one schedule broken
    specs = [
        dataclasses.replace(s, trigger={**s.trigger, "schedule": "0 */6 * * * *"}) if s.name == "drift_report" else s
        for s in load_manifest()
    ]
    # WHEN the local cloud is built (`up` builds it before starting anything) THEN the cron is refused
    with pytest.raises(CronError, match="expected 5 fields"):
        LocalCloud(UpOptions(state_dir=tmp_path), lambda attempt: None, specs=specs)
    assert not (tmp_path / "events.jsonl").exists()


def test_trigger_help_lists_the_manifests_jobs():
    result = CliRunner().invoke(cli, ["trigger", "--help"])

    assert result.exit_code == 0
    jobs = result.output.split("Jobs (functions/manifest.yaml):")[1]
    assert "reconcile-registry  reconcile_registry: '17 3 * * *' (Etc/UTC), publishes to" in jobs
    assert "drift-report-http   drift_report_http: '0 */6 * * *' (Etc/UTC), HTTP call" in jobs


def test_functions_json_names_each_functions_topic_job_and_dead_letter():
    listed = {f["name"]: f for f in json.loads(CliRunner().invoke(cli, ["functions", "--json"]).output)}

    assert (listed["budget_alert"]["topic"], listed["budget_alert"]["job"]) == ("billing-budget-alerts", None)
    assert listed["budget_alert"]["dead_letter_topic"] == "budget-alert-dead-letter"
    assert (listed["drift_report"]["job"], listed["drift_report"]["schedule"]) == ("drift-report", "0 */6 * * *")
    assert listed["drift_report_http"]["takes"] == "Cloud Scheduler HTTP calls"
    assert listed["ecr_rollout"]["takes"] == "ECR Image Action from aws.ecr"
