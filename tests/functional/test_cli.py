"""The CLI contract later checks rely on: replay's JSON lines and exit codes, registry, generate-event, demo."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tooling.cli.main import cli
from tooling.manifest import REPO_ROOT, FunctionSpec, function_named, load_manifest

EVENTS = REPO_ROOT / "events"
SAFETENSORS = str(EVENTS / "storage/01-finalized-safetensors.structured.json")
MALFORMED = str(EVENTS / "storage/21-malformed-generation.binary.json")


@pytest.fixture
def run(state_dir):
    def invoke(*args: str):
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]

    return invoke


def test_replaying_an_event_twice_gives_applied_then_duplicate(run):
    code, lines = run("replay", SAFETENSORS, SAFETENSORS)
    assert code == 0
    assert [line["outcome"] for line in lines] == ["applied", "duplicate"]
    assert lines[0] == {
        "event": SAFETENSORS,
        "function": "register_model",
        "outcome": "applied",
        "detail": lines[0]["detail"],
    }


def test_a_malformed_event_is_rejected_naming_the_field_with_exit_3_and_nothing_written(run, state_dir):
    code, lines = run("replay", MALFORMED)
    assert code == 3
    assert lines[0]["outcome"] == "rejected"
    assert "data.generation" in lines[0]["detail"]
    assert json.loads(CliRunner().invoke(cli, ["registry", "list", "--json"]).output) == []


def test_an_unknown_file_is_an_internal_failure_with_exit_4(run, tmp_path):
    code, lines = run("replay", str(tmp_path / "nope.json"))
    assert code == 4
    assert lines[0]["outcome"] == "error"


def test_generated_events_replay_in_every_mode(run, state_dir, tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b'{"__metadata__":{}}'[:16] + b"\x00" * 4)
    for index, mode in enumerate(["structured", "binary", "legacy"], start=1):
        runner = CliRunner()
        generated = runner.invoke(
            cli,
            [
                "generate-event",
                "gcs-finalize",
                "--bucket",
                "ml-models-prod",
                "--name",
                f"ranker/v{index}/model.safetensors",
                "--file",
                str(model),
                "--metadata",
                "uploader=alice",
                "--mode",
                mode,
            ],
        )
        assert generated.exit_code == 0, generated.output
        path = tmp_path / f"event-{mode}.json"
        path.write_text(generated.output)
        code, lines = run("replay", str(path))
        assert (code, lines[0]["outcome"]) == (0, "applied"), lines
    rows = json.loads(CliRunner().invoke(cli, ["registry", "show", "ranker", "--json"]).output)
    assert [(r["env"], r["version"], r["uploader"], r["size"]) for r in rows] == [
        ("prod", v, "alice", model.stat().st_size) for v in (1, 2, 3)
    ]


def test_registry_list_shows_the_latest_version(run):
    run(
        "replay",
        *(
            str(EVENTS / "storage" / n)
            for n in ("05-finalized-onnx-v3.structured.json", "06-finalized-onnx-v2-late.structured.json")
        ),
    )
    listing = json.loads(CliRunner().invoke(cli, ["registry", "list", "--json"]).output)
    assert [(m["model"], m["latest_version"], m["versions"]) for m in listing] == [("churn-model", 3, [2, 3])]
    shown = CliRunner().invoke(cli, ["registry", "show", "churn-model"])
    assert "v3" in shown.output and "onnx" in shown.output
    assert CliRunner().invoke(cli, ["registry", "show", "unknown-model"]).exit_code == 1


def test_functions_lists_the_manifest():
    output = CliRunner().invoke(cli, ["functions"]).output
    assert "takes finalized, deleted, archived on ml-models-{env}" in output  # register_model
    assert "takes topic reconcile-registry; job reconcile-registry at '17 3 * * *'" in output
    assert "takes topic billing-budget-alerts" in output and "takes ECR Image Action from aws.ecr" in output


def test_the_demo_runs_on_a_fresh_machine_with_no_service(tmp_path):
    # The README's first command, as a user runs it: a new process in an empty directory.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLOPS_EVENTS_", "GOOGLE_", "STORAGE_EMULATOR", "FIRESTORE_EMULATOR", "PUBSUB_EMULATOR"))
    }
    done = subprocess.run(
        [sys.executable, "-m", "tooling.cli.main", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "duplicate 01-finalized-safetensors" in done.stdout
    assert "fraud-detector" in done.stdout and "churn-model" in done.stdout
    assert (tmp_path / ".mlops-events" / "registry.sqlite").is_file()
    # The image model: trained, registered through register_model, served, and sent DICOM files.
    assert "is serving ct-scan-classifier v1 (held-out AUC 0." in done.stdout
    answers = [line for line in done.stdout.splitlines() if "-F file=@" in line and "->" in line]
    assert len(answers) == 4 and all(line.split("->")[1].split()[0] in {"lesion", "no-lesion"} for line in answers)
    assert sorted(p.name for p in (tmp_path / ".mlops-events" / "ct-samples").iterdir())[0] == "slice-01-clear.dcm"


def test_build_names_one_function_and_refuses_unknown_or_missing_names(tmp_path):
    runner = CliRunner()
    built = runner.invoke(cli, ["build", "budget_alert", "--out", str(tmp_path)])
    assert built.exit_code == 0, built.output
    assert built.output.startswith("budget_alert") and (tmp_path / "budget_alert.zip").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["budget_alert", "budget_alert.zip"]
    unknown = runner.invoke(cli, ["build", "no_such_function", "--out", str(tmp_path)])
    assert unknown.exit_code == 1 and "no function 'no_such_function'" in unknown.output
    neither = runner.invoke(cli, ["build", "--out", str(tmp_path)])
    assert neither.exit_code == 2 and "name the functions to build, or pass --all" in neither.output


SPECS = load_manifest()
DRIFT_JOB = function_named("drift_report", SPECS).trigger["payload"]


def _generator(spec: FunctionSpec, kind: str) -> list[str] | None:
    """The generate-event command line for one event kind of the manifest, its names taken from the manifest."""
    trigger = spec.trigger
    sample = str(EVENTS / "objects/ml-models-dev/fraud-detector/v1/model.safetensors")
    bucket = trigger.get("filters", {}).get("bucket", "").replace("{env}", "dev")
    job, topic = trigger.get("attributes", {}).get("scheduler_job", ""), trigger.get("topic", "")
    if spec.name == "monitoring_alert":  # a Pub/Sub trigger too, carrying Cloud Monitoring's notifications
        return ["monitoring", "--state", "open", "--topic", topic]
    return {
        ("eventarc", "google.cloud.storage.object.v1.finalized"): [
            "gcs-finalize", "--bucket", bucket, "--name", "fraud-detector/v9/model.safetensors", "--file", sample,
        ],
        ("eventarc", "google.cloud.storage.object.v1.deleted"): [
            "gcs-delete", "--bucket", bucket, "--name", "fraud-detector/v1/model.safetensors",
        ],
        ("eventarc", "google.cloud.storage.object.v1.archived"): [
            "gcs-archive", "--bucket", bucket, "--name", "fraud-detector/v1/model.safetensors",
        ],
        ("schedule", "google.cloud.pubsub.topic.v1.messagePublished"): [
            "scheduler", "--job", job, "--topic", topic, "--payload", json.dumps(trigger.get("payload", {})),
        ],
        ("pubsub", "google.cloud.pubsub.topic.v1.messagePublished"): [
            "budget", "--budget-id", "b-1", "--amount", "1000", "--cost", "612.5", "--threshold", "0.5",
            "--topic", topic,
        ],
        ("http", "http"): ["scheduler-http", "--job", "drift-report-http", "--payload", json.dumps(DRIFT_JOB)],
        ("eventbridge", "ECR Image Action"): ["ecr-push", "--repository", "ml/inference", "--tag", "1.4.0"],
    }.get((trigger["kind"], kind))  # fmt: skip


EVENT_KINDS = [(spec, kind) for spec in SPECS for kind in spec.event_types or [spec.trigger["kind"]]]


@pytest.mark.parametrize(("spec", "kind"), EVENT_KINDS, ids=[f"{s.name}-{k}" for s, k in EVENT_KINDS])
def test_every_event_kind_of_the_manifest_has_a_generated_event_its_function_takes(run, tmp_path, spec, kind):
    # GIVEN the generate-event command for this function's trigger
    args = _generator(spec, kind)
    assert args is not None, f"no generate-event command for {spec.name}'s {kind}"
    generated = CliRunner().invoke(cli, ["generate-event", *args])
    assert generated.exit_code == 0, generated.output
    path = tmp_path / "event.json"
    path.write_text(generated.output)
    # WHEN its output is replayed to the function, THEN the function takes it (no rejection, no error)
    code, lines = run("replay", "--function", spec.name, str(path))
    assert (code, lines[0]["function"]) == (0, spec.name)
    assert lines[0]["outcome"] in {"applied", "ignored", "duplicate"}, lines[0]


def _budget_message(output: str) -> tuple[dict, dict]:
    document = json.loads(output)
    message = (document.get("data") or document["body"])["message"]
    return message["attributes"], json.loads(base64.b64decode(message["data"]))


def test_a_generated_budget_notification_has_the_billing_shape_and_alerts_once(run, state_dir, tmp_path):
    args = ["generate-event", "budget", "--budget-id", "b-7", "--amount", "500", "--cost", "510", "--threshold", "1"]
    generated = CliRunner().invoke(cli, [*args, "--forecast", "--currency", "eur", "--mode", "binary"])
    assert generated.exit_code == 0, generated.output
    attributes, data = _budget_message(generated.output)
    assert attributes == {"billingAccountId": "01D4EE-079462-DFD6EC", "budgetId": "b-7", "schemaVersion": "1.0"}
    assert (data["forecastThresholdExceeded"], data["currencyCode"], data["costAmount"]) == (1.0, "EUR", 510.0)
    assert "alertThresholdExceeded" not in data and data["costIntervalStart"].endswith(
        ("-01T07:00:00Z", "-01T08:00:00Z")
    )  # Pacific midnight
    path = tmp_path / "budget.json"
    path.write_text(generated.output)
    code, lines = run("replay", "--function", "budget_alert", str(path), str(path))
    assert code == 0 and [line["outcome"] for line in lines] == ["applied", "duplicate"]
    posted = [json.loads(line) for line in (state_dir / "slack-outbox.jsonl").read_text().splitlines()]
    assert len(posted) == 1 and "100% forecast" in json.dumps(posted[0])


BUDGET = ["generate-event", "budget", "--budget-id", "b", "--amount", "100"]


def test_a_routine_budget_notification_crosses_no_threshold():
    generated = CliRunner().invoke(cli, [*BUDGET, "--cost", "1"])
    _, data = _budget_message(generated.output)
    assert not {"alertThresholdExceeded", "forecastThresholdExceeded"} & data.keys()


def test_a_generated_scheduler_http_call_carries_cloud_schedulers_headers():
    generated = CliRunner().invoke(
        cli,
        [
            "generate-event",
            "scheduler-http",
            "--job",
            "j1",
            "--payload",
            '{"model": "m"}',
            "--schedule-time",
            "2026-11-20T06:00:00Z",
        ],
    )
    assert json.loads(generated.output) == {
        "headers": {
            "Content-Type": "application/json",
            "User-Agent": "Google-Cloud-Scheduler",
            "X-CloudScheduler": "true",
            "X-CloudScheduler-JobName": "j1",
            "X-CloudScheduler-ScheduleTime": "2026-11-20T06:00:00Z",
        },
        "body": {"model": "m"},
    }
    now = CliRunner().invoke(cli, ["generate-event", "scheduler-http", "--job", "j1", "--run-now"])
    assert "X-CloudScheduler-ScheduleTime" not in json.loads(now.output)["headers"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*BUDGET, "--cost", "lots"], "'lots' is not a valid float"),
        ([*BUDGET, "--cost", "5", "--threshold", "-0.5"], "-0.5 is not in the range x>=0"),
        ([*BUDGET, "--cost", "nan"], "cost must be a finite number >= 0"),
        ([*BUDGET, "--cost", "5", "--forecast"], "a forecast notification needs the threshold it crossed"),
        ([*BUDGET, "--cost", "5", "--currency", "dollars"], "currency must be an ISO 4217 code"),
        (["generate-event", "budget", "--amount", "1", "--cost", "1"], "Missing option '--budget-id'"),
        (["generate-event", "scheduler-http", "--job", "j", "--payload", "{model: m}"], "--payload': not JSON"),
        (["generate-event", "scheduler", "--job", "j", "--payload", "[1,"], "--payload': not JSON"),
        (
            ["generate-event", "scheduler-http", "--job", "j", "--run-now", "--schedule-time", "2026-01-01 00:00"],
            "exclude",
        ),
        (["replay", "--url", "localhost:8080", SAFETENSORS], "expected an http:// or https:// URL"),
    ],
)
def test_bad_input_is_a_usage_error_that_says_what_is_wrong(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_an_event_copied_anywhere_is_routed_by_the_manifest_as_the_cloud_would(run, tmp_path):
    # GIVEN saved events outside the repository: no fixture glob tells their function
    for fixture, function in [
        ("budget/05-actual-90.binary.json", "budget_alert"),  # by its topic (ce-source)
        ("scheduler/reconcile-registry.structured.json", "reconcile_registry"),  # by its topic
        ("drift/02-scheduled-run.http.json", "drift_report_http"),  # by its X-CloudScheduler-JobName
        ("storage/03-finalized-torch-zip.legacy.json", "register_model"),  # legacy, by type and bucket
    ]:
        copied = tmp_path / Path(fixture).name
        copied.write_bytes((EVENTS / fixture).read_bytes())
        # WHEN replayed without --function, THEN it reaches the function the trigger names
        code, [line] = run("replay", str(copied))
        assert line["function"] == function, line
    # AND one no trigger takes is an error that says what it is and what the manifest subscribes
    scan = tmp_path / "scan.json"
    scan.write_bytes((EVENTS / "ecr/10-scan-complete.json").read_bytes())
    code, [line] = run("replay", str(scan))
    assert code == 3 and line["outcome"] == "rejected"  # as the cloud would not deliver it
    assert "'ECR Image Scan' from 'aws.ecr' is taken by no trigger" in line["detail"]
    assert "ecr_rollout to ECR Image Action from aws.ecr" in line["detail"]


def test_generate_event_piped_into_replay_dash(state_dir):
    # GIVEN a generated budget notification, and two saved events as JSON lines
    generated = CliRunner().invoke(
        cli, ["generate-event", "budget", "--budget-id", "b-9", "--amount", "100", "--cost", "75", "--threshold", "0.5"]
    )
    lines = "\n".join(json.dumps(json.loads((EVENTS / f).read_text())) for f in ["budget/02-actual-50.structured.json"])
    for stdin, expected in [
        (generated.output, [("<stdin>", "budget_alert", "applied")]),
        (lines + "\n\nnot json\n" + lines, [("<stdin>:1", "budget_alert", "applied"), ("<stdin>:2", None, "rejected")]),
    ]:
        # WHEN piped into `replay -`
        result = CliRunner().invoke(cli, ["replay", "-"], input=stdin)
        # THEN each event is replayed, routed by what it says, a line that is no event rejected on its own
        got = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
        assert [(g["event"], g["function"], g["outcome"]) for g in got][: len(expected)] == expected, got


@pytest.mark.parametrize(
    ("args", "function"),
    [
        (["scheduler", "--job", "drift-report"], "drift_report"),
        (["scheduler-http", "--job", "drift-report-http"], "drift_report_http"),
        (["scheduler", "--job", "reconcile-registry"], "reconcile_registry"),
    ],
)
def test_generate_event_takes_the_jobs_payload_and_topic_from_the_manifest(run, tmp_path, args, function):
    # GIVEN a scheduled job's event generated with no --payload and no --topic
    generated = CliRunner().invoke(cli, ["generate-event", *args])
    assert generated.exit_code == 0, generated.output
    path = tmp_path / "event.json"
    path.write_text(generated.output)
    # WHEN replayed without --function, THEN it reaches the job's function, which does not find the
    # payload missing (the drift jobs then look for the sample data, absent here: a missing reference)
    _, [line] = run("replay", str(path))
    assert line["function"] == function, line
    assert "is missing" not in line["detail"], line


@pytest.mark.parametrize(
    ("day", "start"),
    [
        ("2026-12-05", "2026-12-01T08:00:00Z"),  # PST: UTC-8
        ("2026-07-31", "2026-07-01T07:00:00Z"),  # PDT: UTC-7
    ],
)
def test_a_generated_budget_notification_starts_its_interval_at_pacific_midnight(day, start):
    generated = CliRunner().invoke(
        cli, ["generate-event", "budget", "--budget-id", "b", "--amount", "9", "--cost", "1", "--interval-start", day]
    )
    data = json.loads(base64.b64decode(json.loads(generated.output)["data"]["message"]["data"]))
    assert data["costIntervalStart"] == start


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["registry", "list", "--profile", "emulators"], {}, "the emulators profile needs MLOPS_EVENTS_"),
        (["registry", "list", "--profile", "cloud"], {"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent.json"}, ""),
    ],
)
def test_a_fixable_error_is_one_line_and_exit_1_without_a_traceback(state_dir, monkeypatch, args, env, message):
    for variable in ("FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "MLOPS_EVENTS_BIGQUERY_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.startswith("Error: ") and message in result.output
    # -v shows the traceback instead
    verbose = CliRunner().invoke(cli, ["-v", *args])
    assert verbose.exit_code == 1 and verbose.exception is not None and not isinstance(verbose.exception, SystemExit)


def test_version_and_an_unknown_model_in_json(state_dir):
    assert CliRunner().invoke(cli, ["--version"]).output.startswith("mlops-events, version ")
    shown = CliRunner().invoke(cli, ["registry", "show", "no-such-model", "--json"])
    assert (shown.exit_code, json.loads(shown.output)) == (1, [])
