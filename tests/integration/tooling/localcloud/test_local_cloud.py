"""End to end: `mlops-events up` running in its own process, driven as a user drives it, with the
real client libraries against the emulators it started. Each test waits for what the issue promises:
a model registered in Firestore, one Slack post per budget threshold, a drift report in the bucket, a
rollout plan, redelivery after a function dies, and nothing left running after Ctrl-C."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.local_cloud import RunningUp
from tooling.localcloud.processes import group_alive
from tooling.manifest import REPO_ROOT

pytestmark = pytest.mark.integration

OBJECTS = REPO_ROOT / "events" / "objects"
BUDGET_FIXTURE = REPO_ROOT / "events" / "budget" / "02-actual-50.structured.json"
MODEL, ENV = "fraud-detector", "dev"  # what up's inference service serves
ROWS_PER_REQUEST = 50


# Where the inference service captures its predictions in this module's `up`: both Parquet in fake-gcs-server
# and rows in bqemulator by default; LOCAL_CLOUD_INFERENCE_CAPTURE=parquet (or bigquery) runs it with one.
CAPTURE_SINKS = tuple(os.environ.get("LOCAL_CLOUD_INFERENCE_CAPTURE", "parquet,bigquery").split(","))


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningUp]:
    # The service follows `champion`, as in the cloud: a version serves once the quality gate promotes it (dev)
    # or an alias move points at it.
    options = ("--inference-alias", "champion", "--inference-capture", ",".join(CAPTURE_SINKS))
    running = RunningUp.start(tmp_path_factory.mktemp("up"), "--backoff-scale", "0.02", "--no-schedules", *options)
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in running.client_env.items():
            patch.setenv(variable, value)
        yield running
    running.interrupt()


@pytest.fixture(scope="module")
def storage(cloud: RunningUp):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    endpoint = cloud.state["emulators"]["gcs"]["url"]
    return storage.Client(
        project=cloud.state["project"],
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def aws(cloud: RunningUp, service: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=cloud.state["emulators"]["moto"]["url"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def applied(function: str, subject_part: str):
    def found(events: list[dict]) -> list[dict]:
        return [
            e
            for e in events
            if e["function"] == function and subject_part in e["subject"] and e["outcome"] in ("applied", "duplicate")
        ]

    return found


def trigger(cloud: RunningUp, job: str) -> subprocess.CompletedProcess[str]:
    """`mlops-events trigger JOB`, as a user runs it from another terminal."""
    command = [sys.executable, "-m", "tooling.cli.main", "trigger", job, "--state-dir", str(cloud.state_dir)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)


def image_manifest() -> str:
    """A Docker v2 image manifest with fresh digests (moto derives the image digest from its layers)."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 7023,
                "digest": "sha256:" + uuid.uuid4().hex * 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 32654,
                    "digest": "sha256:" + uuid.uuid4().hex * 2,
                }
            ],
        }
    )


def settled(*event_ids: str):
    """The acknowledged outcome of each event, once every one of them has one."""

    def found(events: list[dict]) -> dict[str, str] | None:
        finals = {
            e["event_id"]: e["outcome"]
            for e in events
            if e.get("event_id") in event_ids and e["outcome"] in ("applied", "duplicate", "ignored")
        }
        return finals if len(finals) == len(event_ids) else None

    return found


def publish_budget(cloud: RunningUp, budget_id: str, name: str, threshold: float, cost: float) -> str:
    """A Cloud Billing notification, as the budget publishes it to its topic."""
    from google.cloud import pubsub_v1

    message = json.loads(BUDGET_FIXTURE.read_text())["data"]["message"]
    body = json.loads(base64.b64decode(message["data"]))
    body.update(budgetDisplayName=name, alertThresholdExceeded=threshold, costAmount=cost)
    attributes = {**message.get("attributes", {}), "budgetId": budget_id}
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(cloud.state["project"], "billing-budget-alerts")
    return publisher.publish(topic, json.dumps(body).encode(), **attributes).result(30)


def test_up_serves_every_function_of_the_manifest_and_the_inference_service(cloud: RunningUp):
    # GIVEN up is ready THEN every function has a process and a URL, with a log file in the state dir
    functions = cloud.state["functions"]
    assert {"register_model", "reconcile_registry", "budget_alert", "drift_report", "ecr_rollout"} <= set(functions)
    assert functions["ecr_rollout"]["url"].endswith("/2015-03-31/functions/ecr_rollout/invocations")
    for served in functions.values():
        assert Path(served["log"]).parent == cloud.state_dir / "logs"
    if "inference" in functions:  # only where torch is installed
        with urllib.request.urlopen(functions["inference"]["url"] + "/healthz", timeout=10) as answer:
            assert answer.status == 200


def test_a_model_file_dropped_into_the_models_bucket_is_registered_within_seconds(cloud: RunningUp, storage):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    # GIVEN the local models bucket WHEN a user uploads a model file with google-cloud-storage
    content = (OBJECTS / "ml-models-dev/churn-model/v2/model.onnx").read_bytes()
    started = time.monotonic()
    storage.bucket("ml-models-dev").blob("churn-model/v2/model.onnx").upload_from_string(content)
    # THEN fake-gcs's notification reached register_model as an Eventarc event, and Firestore has it
    db = firestore.Client(project=cloud.state["project"], credentials=AnonymousCredentials())
    pointer = db.collection("models").document("churn-model").collection("envs").document("dev")
    deadline = started + 20
    while time.monotonic() < deadline and not pointer.get().exists:
        time.sleep(0.1)
    assert pointer.get().exists, cloud.console()[-3000:]
    assert pointer.get().to_dict()["latest_version"] == 2
    print(f"registered {time.monotonic() - started:.1f} s after the upload")
    [event] = cloud.wait_for(applied("register_model", "churn-model/v2/model.onnx"), "registration")
    assert event["source"] == "gcs" and event["outcome"] == "applied"
    assert "finalized" in event["subject"]
    assert "register_model" in cloud.console() and "applied" in cloud.console()
    # and the sample drift data `up` seeded into ml-drift-dev never reached it: Eventarc filters on the bucket
    assert not [e for e in cloud.events() if e["function"] == "register_model" and "ml-drift-dev" in e["subject"]]


def registered(prefix: str, *names: str):
    """register_model's outcome for each of these files of a version, once every one has one."""

    def found(events: list[dict]) -> bool:
        return all(applied("register_model", prefix + name)(events) for name in names)

    return found


def predict(url: str, rows: list[dict]) -> dict:
    request = urllib.request.Request(
        f"{url}/predict", data=json.dumps({"rows": rows}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def serving(cloud: RunningUp, version: int, timeout_s: float = 30.0) -> dict:
    """/readyz once the service serves `version` (it asks the registry every INFERENCE_RELOAD_S, 2 s under up)."""
    url = cloud.state["functions"]["inference"]["url"]
    deadline = time.monotonic() + timeout_s
    ready: dict = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
            ready = json.loads(answer.read())
        if ready.get("version") == version:
            return ready
        time.sleep(0.25)
    log = Path(cloud.state["functions"]["inference"]["log"]).read_text(errors="replace")[-3000:]
    raise AssertionError(f"the service does not serve v{version} within {timeout_s:.0f} s: /readyz {ready}\n{log}")


def registry_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`mlops-events registry ...` on the emulators, as from a shell that sourced up.env."""
    command = [sys.executable, "-m", "tooling.cli.main", "registry", *args, "--profile", "emulators"]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)


def aliases(model: str, env: str) -> dict[str, int]:
    listed = registry_cli("alias", "list", model, "--env", env, "--json")
    assert listed.returncode == 0, listed.stderr
    return {move["alias"]: move["version"] for move in json.loads(listed.stdout)}


def captured_rows(cloud: RunningUp, storage, request_ids: set[str], sink: str) -> list[dict]:
    """The captures of these requests in one sink: Parquet files in fake-gcs-server, or rows in bqemulator."""
    columns = ["request_id", "served_at", "model_version", "amount", "prediction", "confidence"]
    if sink == "bigquery":
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        client = bigquery.Client(
            project=cloud.state["project"],
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=cloud.state["emulators"]["bigquery"]["url"]),
        )
        table = f"`{cloud.state['project']}.ml_monitoring.predictions`"
        query = f"SELECT request_id, served_at, model_version, prediction, confidence FROM {table} WHERE model = @m"
        config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("m", "STRING", MODEL)])
        job = client.query(query, job_config=config, retry=bigquery.DEFAULT_RETRY.with_deadline(10), timeout=10)
        rows = [dict(row.items()) for row in job.result(timeout=10)]  # the service created the table as it started
    else:
        import pyarrow.parquet as pq

        rows = []
        for blob in storage.list_blobs(f"ml-predictions-{ENV}", prefix=f"{MODEL}/dt="):
            if blob.name.endswith(".parquet"):
                rows += pq.read_table(io.BytesIO(blob.download_as_bytes()), columns=columns).to_pylist()
    return [row for row in rows if row["request_id"] in request_ids]


def wait_for_captures(cloud: RunningUp, storage, answers: list[dict], sink: str, timeout_s: float = 30.0) -> list[dict]:
    """Every row of these answers captured in `sink` (the writer flushes every second under up)."""
    wanted = sum(len(a["predictions"]) for a in answers)
    request_ids = {a["request_id"] for a in answers}
    deadline = time.monotonic() + timeout_s
    rows: list[dict] = []
    while time.monotonic() < deadline:
        rows = captured_rows(cloud, storage, request_ids, sink)
        if len(rows) >= wanted:
            return rows
        time.sleep(0.5)
    log = Path(cloud.state["functions"]["inference"]["log"]).read_text(errors="replace")[-3000:]
    raise AssertionError(f"{len(rows)} of {wanted} rows captured ({sink}) within {timeout_s:.0f} s\n{log}")


def publish_drift_request(cloud: RunningUp, job: str, body: dict) -> str:
    """A drift run request on drift_report's topic, as a Cloud Scheduler job of that name publishes it."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(cloud.state["project"], "drift-report")
    return publisher.publish(topic, json.dumps(body).encode(), scheduler_job=job).result(30)


def upload_version(storage, folder: Path, version: int) -> None:
    for name in ("model.json", "model.pt"):
        blob = storage.bucket(f"ml-models-{ENV}").blob(f"{MODEL}/v{version}/{name}")
        blob.upload_from_filename(str(folder / name))


def upload_metrics(storage, version: int, metrics: dict) -> None:
    blob = storage.bucket(f"ml-models-{ENV}").blob(f"{MODEL}/v{version}/metrics.json")
    blob.upload_from_string(json.dumps(metrics), content_type="application/json")


def shifted(row: dict) -> dict:
    """Served traffic unlike the training data: larger amounts at riskier merchants, all from one country."""
    risk = min(0.99, row["merchant_risk"] + 0.15)
    return {**row, "amount": round(row["amount"] * 2, 2), "merchant_risk": risk, "country": "BR"}


def test_the_served_loop_captures_drifts_promotes_and_rolls_back_without_a_restart(
    cloud: RunningUp, storage, tmp_path: Path
):
    """Issue 20's acceptance check: the whole loop on `up`, as in the cloud."""
    if "inference" not in cloud.state["functions"]:
        pytest.skip("torch is not installed: up serves no inference service")
    from mlops_inference import train

    assert cloud.state["inference"] == {"alias": "champion", "capture": ",".join(CAPTURE_SINKS)}
    inference = cloud.state["functions"]["inference"]
    url, pid = inference["url"], inference["pid"]
    trained = train.train(tmp_path)
    v1_metrics = {"auc": round(trained["auc"] - 0.05, 4), "log_loss": round(trained["log_loss"] * 1.2, 4)}

    # GIVEN v1 uploaded with its metrics: the gate (no champion yet) makes it candidate and champion in dev
    upload_version(storage, tmp_path, 1)
    cloud.wait_for(registered(f"{MODEL}/v1/", "model.json", "model.pt"), "v1's files registered")
    upload_metrics(storage, 1, v1_metrics)
    cloud.wait_for(applied("evaluate_model", f"{MODEL}/v1/metrics.json"), "v1's gate decision")
    assert aliases(MODEL, ENV) == {"candidate": 1, "champion": 1}
    [gate] = cloud.posts_about(f"{MODEL} v1 ({ENV}) passed the quality gate against no champion yet")
    assert "`champion` → v1" in json.dumps(gate, ensure_ascii=False)
    serving(cloud, 1)

    # WHEN it answers N requests, the later half's rows shifted (the features drift, and so do the outputs)
    rows = train.feature_rows(train.synthetic_transactions(4 * ROWS_PER_REQUEST, seed=11))
    before = [predict(url, rows[i : i + ROWS_PER_REQUEST]) for i in range(0, 2 * ROWS_PER_REQUEST, ROWS_PER_REQUEST)]
    boundary = datetime.now(UTC)
    later = [shifted(row) for row in rows[2 * ROWS_PER_REQUEST :]]
    after = [predict(url, later[i : i + ROWS_PER_REQUEST]) for i in range(0, len(later), ROWS_PER_REQUEST)]
    assert {a["version"] for a in before + after} == {1}

    # THEN every row is captured in each sink, with the version that answered it
    for sink in CAPTURE_SINKS:
        captured = wait_for_captures(cloud, storage, before + after, sink)
        assert len(captured) == len(rows), sink
        assert {row["model_version"] for row in captured} == {"v1"}, sink

    # WHEN the drift job runs on each sink's captures: the current window from the boundary, the one before
    # it the baseline of the outputs (explicit bounds: the window before is as long, ten minutes back)
    for sink in CAPTURE_SINKS:
        job = f"drift-served-{sink}-{uuid.uuid4().hex[:8]}"
        uri = (
            f"bq://{cloud.state['project']}.ml_monitoring.predictions"
            if sink == "bigquery"
            else f"gs://ml-predictions-{ENV}/{MODEL}/dt=*/*.parquet"
        )
        window = {"start": boundary.isoformat(), "end": (boundary + timedelta(minutes=10)).isoformat()}
        request = {
            "model": MODEL,
            "env": ENV,
            "reference": {"uri": f"gs://ml-drift-{ENV}/{MODEL}/reference/*.parquet"},
            "current": {"uri": uri, "timestamp_column": "served_at", "captured": True, **window},
            "features": list(train.FEATURES),
        }
        message = publish_drift_request(cloud, job, request)
        finals = cloud.wait_for(settled(message), f"the drift run on the {sink} captures", timeout_s=90)
        assert finals == {message: "applied"}, [e for e in cloud.events() if e.get("event_id") == message]

        # THEN its report names feature, prediction and confidence drift, and the version that answered
        reports = storage.list_blobs(f"ml-drift-logs-{ENV}", prefix=f"drift/{MODEL}/{ENV}/")
        names = [b.name for b in reports if job in b.name]
        [summary_name] = [n for n in names if n.endswith("-summary.json")]
        assert any(n.endswith("-report.html") for n in names), names
        summary = json.loads(storage.bucket(f"ml-drift-logs-{ENV}").blob(summary_name).download_as_bytes())
        features = {f["feature"]: f for f in summary["features"]}
        wanted = {"prediction drift: prediction", "prediction drift: label", "confidence drift: confidence"}
        assert wanted <= set(features), sink
        drifted = {name for name, f in features.items() if f["drifted"]}
        assert {"amount", "country", "prediction drift: prediction", "confidence drift: confidence"} <= drifted, (
            sink,
            features,
        )
        assert summary["model_versions"] == ["v1"]
        assert summary["current_rows"] == len(later)
        assert summary["dataset_drifted"] is True
        [alert] = cloud.posts_about(job)
        assert f"Data drift in {MODEL} ({ENV})" in alert["text"]

    # WHEN v2 lands with better metrics
    upload_version(storage, tmp_path, 2)
    cloud.wait_for(registered(f"{MODEL}/v2/", "model.json", "model.pt"), "v2's files registered")
    upload_metrics(storage, 2, trained)
    cloud.wait_for(applied("evaluate_model", f"{MODEL}/v2/metrics.json"), "v2's gate decision")

    # THEN it is candidate and champion in dev, the gate says so on Slack, and the same process serves it
    assert aliases(MODEL, ENV) == {"candidate": 2, "champion": 2}
    [gate] = cloud.posts_about(f"{MODEL} v2 ({ENV}) passed the quality gate against champion v1")
    assert "`candidate` → v2" in json.dumps(gate, ensure_ascii=False)
    serving(cloud, 2)
    assert predict(url, rows[:2])["version"] == 2

    # WHEN the champion is moved back by hand (a rollback is an alias move)
    moved = registry_cli("alias", "set", MODEL, "champion", "1", "--env", ENV, "--by", "e2e-rollback")
    assert moved.returncode == 0, moved.stderr
    assert "champion: v2 -> v1" in moved.stdout

    # THEN the service answers with v1 again, still without a restart
    serving(cloud, 1)
    assert predict(url, rows[:2])["version"] == 1
    assert aliases(MODEL, ENV) == {"candidate": 2, "champion": 1}
    now = json.loads((cloud.state_dir / "up.json").read_text())["functions"]["inference"]
    assert (now["pid"], now["url"], now["restarts"]) == (pid, url, 0)


def test_a_trained_model_dropped_into_the_bucket_is_served_by_the_inference_service(
    cloud: RunningUp, storage, tmp_path: Path
):
    if "inference" not in cloud.state["functions"]:
        pytest.skip("torch is not installed: up serves no inference service")
    from mlops_inference import train

    # GIVEN the demo model trained locally WHEN its files are uploaded as fraud-detector v7, then its metrics
    metrics = train.train(tmp_path)
    for name in ("model.json", "model.pt"):
        storage.bucket("ml-models-dev").blob(f"fraud-detector/v7/{name}").upload_from_file((tmp_path / name).open("rb"))
    cloud.wait_for(registered("fraud-detector/v7/", "model.json", "model.pt"), "v7's files registered")
    storage.bucket("ml-models-dev").blob("fraud-detector/v7/metrics.json").upload_from_string(json.dumps(metrics))
    # THEN register_model registers it, the quality gate makes it champion (dev), the service (following
    # `champion`) reloads it from the registry, and it predicts with it
    url = cloud.state["functions"]["inference"]["url"]
    deadline = time.monotonic() + 60
    ready: dict = {}
    while time.monotonic() < deadline and ready.get("version") != 7:
        time.sleep(0.5)
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
            ready = json.loads(answer.read())
    assert ready.get("version") == 7, cloud.console()[-3000:]
    rows = train.feature_rows(train.synthetic_transactions(2, seed=3))
    request = urllib.request.Request(
        f"{url}/predict", data=json.dumps({"rows": rows}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        prediction = json.loads(answer.read())
    assert prediction["version"] == 7 and len(prediction["predictions"]) == 2
    assert all(0.0 <= p <= 1.0 for p in prediction["predictions"])


def test_a_budget_notification_gives_exactly_one_slack_post_even_when_delivered_twice(cloud: RunningUp):
    budget_id = str(uuid.uuid4())
    name = f"e2e-once-{budget_id[:8]}"
    # WHEN the same threshold crossing is published twice (Cloud Billing repeats itself)
    first = publish_budget(cloud, budget_id, name, 0.5, 512.3)
    second = publish_budget(cloud, budget_id, name, 0.5, 530.0)
    # THEN both are delivered to budget_alert (one may first meet the other's claim in progress and be
    # redelivered), and the local Slack receiver got exactly one post
    finals = cloud.wait_for(settled(first, second), "two settled budget deliveries")
    assert sorted(finals.values()) == ["applied", "duplicate"]
    posts = cloud.posts_about(name, at_least=2, timeout_s=2)  # a second post would have come with its delivery
    assert len(posts) == 1
    assert "50%" in posts[0]["text"]


def test_the_drift_schedule_run_now_writes_its_report_to_the_drift_logs_bucket(cloud: RunningUp, storage):
    # WHEN the user fires the schedule, as `gcloud scheduler jobs run` would (earlier drift runs on the same
    # topic, the served loop's, are not this one's)
    drift_runs = applied("drift_report", "drift-report")
    earlier = len(drift_runs(cloud.events()))
    fired = trigger(cloud, "drift-report")
    assert fired.returncode == 0, fired.stderr
    # THEN the job published to its topic, drift_report ran on the seeded data, and the report is in the bucket
    [run] = cloud.wait_for(lambda events: drift_runs(events)[earlier:], "drift run", timeout_s=60)
    assert "-drift-report-report.html" in run["detail"]
    assert run["source"] == "scheduler"
    names = [b.name for b in storage.list_blobs("ml-drift-logs-dev", prefix="drift/fraud-detector/dev/")]
    assert any(n.endswith("-report.html") for n in names), names
    assert any(n.endswith(".json") for n in names), names


def test_the_http_drift_schedule_run_now_calls_its_function_with_cloud_schedulers_headers(cloud: RunningUp):
    # WHEN the HTTP job is forced (Cloud Scheduler's HTTP target: no Pub/Sub in between)
    fired = trigger(cloud, "drift-report-http")
    assert fired.returncode == 0, fired.stderr
    # THEN drift_report_http answered with its outcome, as the job would record it
    [run] = cloud.wait_for(applied("drift_report_http", "drift-report-http"), "HTTP drift run", timeout_s=60)
    assert run["source"] == "scheduler" and run["http_status"] == 200
    assert "run now" in run["subject"]


def test_trigger_names_the_jobs_when_the_job_is_unknown(cloud: RunningUp):
    answer = trigger(cloud, "no-such-job")
    assert answer.returncode == 1
    assert "no job 'no-such-job'" in answer.stderr and "drift-report" in answer.stderr


def test_an_image_put_into_the_local_ecr_rolls_the_deployments_that_follow_it(cloud: RunningUp):
    # WHEN an image is pushed to the local ECR (moto) under a tag the targets' policies accept
    pushed = aws(cloud, "ecr").put_image(
        repositoryName="ml/inference", imageManifest=image_manifest(), imageTag="1.4.0"
    )
    digest = pushed["image"]["imageId"]["imageDigest"]
    # THEN the ECR Image Action event reached the Lambda, which rolled both Deployments following the repository
    [event] = cloud.wait_for(applied("ecr_rollout", digest[:19]), "rollout", timeout_s=60)
    assert event["source"] == "ecr"
    journal = [json.loads(line) for line in (cloud.state_dir / "rollouts.jsonl").read_text().splitlines()]
    rolled = {(e["target"], e["status"]) for e in journal if e["new_image"].endswith(digest)}
    assert {status for _, status in rolled} == {"succeeded"}
    assert len(rolled) == 2  # production (semver ^1) and staging (every push)
    [post] = cloud.posts_about("Rollout of ml/inference:1.4.0")
    assert "succeeded" in post["text"]


def test_a_push_no_rule_matches_is_shown_and_not_delivered(cloud: RunningUp):
    ecr = aws(cloud, "ecr")
    # GIVEN a repository no rollout target follows WHEN an image is pushed there
    repository = f"scratch-{uuid.uuid4().hex[:6]}"
    ecr.create_repository(repositoryName=repository)
    ecr.put_image(repositoryName=repository, imageManifest=image_manifest(), imageTag="v1")
    # THEN the event is shown as matching no EventBridge rule, and the Lambda never sees it
    found = cloud.wait_for(
        lambda events: [e for e in events if e["outcome"] == "unmatched" and repository in e["subject"]],
        "unmatched push",
    )
    assert found[0]["function"] == "-"
    assert not [e for e in cloud.events() if e["function"] == "ecr_rollout" and repository in e["subject"]]


def test_replay_url_sends_a_saved_event_to_the_running_function(cloud: RunningUp):
    url = cloud.state["functions"]["register_model"]["url"]
    fixture = REPO_ROOT / "events" / "storage" / "23-malformed-not-a-cloudevent.binary.json"
    answer = subprocess.run(
        [sys.executable, "-m", "tooling.cli.main", "replay", "--url", url, str(fixture)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    # THEN it is rejected and acknowledged (200: Pub/Sub and Eventarc would redeliver a 400), exit 3
    line = json.loads(answer.stdout.splitlines()[0])
    assert answer.returncode == 3
    assert (line["url"], line["http_status"], line["outcome"]) == (url, 200, "rejected")
    assert "Traceback" not in answer.stderr


def test_a_function_killed_mid_stream_gets_its_events_redelivered_once_it_is_back(cloud: RunningUp):
    budget_id = str(uuid.uuid4())
    name = f"e2e-kill-{budget_id[:8]}"
    pid = cloud.state["functions"]["budget_alert"]["pid"]
    # GIVEN a stream of threshold crossings, the first delivered while budget_alert runs
    first = publish_budget(cloud, budget_id, name, 0.5, 510.0)
    cloud.wait_for(
        lambda events: [e for e in events if e.get("event_id") == first and e["outcome"] == "applied"], "first"
    )
    # WHEN its process is killed, and the rest of the stream arrives while it is down
    os.killpg(pid, signal.SIGKILL)
    rest = [publish_budget(cloud, budget_id, name, t, c) for t, c in ((0.9, 905.0), (1.0, 1010.0))]
    # THEN deliveries fail while it is down, up starts it again, and Pub/Sub's redelivery brings both through
    cloud.wait_for(
        lambda events: [e for e in events if e["function"] == "budget_alert" and e["outcome"] == "restarted"], "restart"
    )
    done = cloud.wait_for(
        lambda events: (
            [e for e in events if e.get("event_id") in rest and e["outcome"] == "applied"]
            if len({e.get("event_id") for e in events if e.get("event_id") in rest and e["outcome"] == "applied"}) == 2
            else None
        ),
        "redelivered stream",
        timeout_s=60,
    )
    assert {e.get("event_id") for e in done} == set(rest)
    failed = [e for e in cloud.events() if e.get("event_id") in rest and e["outcome"] in ("unreachable", "error")]
    assert failed, "the deliveries while the function was down should have failed first"
    assert all(e.get("next_retry_s") is not None for e in failed)
    assert max(e["attempt"] for e in done) > 1
    # exactly one post per threshold, none lost and none repeated
    posts = cloud.posts_about(name, at_least=4, timeout_s=2)
    assert len(posts) == 3, [p["text"] for p in posts]


def test_ctrl_c_stops_every_process_and_leaves_no_orphan(cloud: RunningUp):
    groups = [e["pid"] for e in cloud.state["emulators"].values()]
    groups += [f["pid"] for f in json.loads((cloud.state_dir / "up.json").read_text())["functions"].values()]
    # WHEN the user presses Ctrl-C
    code = cloud.interrupt()
    # THEN up exits 0, says it checked, and no process group it started is left (the JVMs included)
    assert code == 0, cloud.console()[-3000:]
    assert "none left running" in cloud.console()
    assert [pgid for pgid in groups if group_alive(pgid)] == []
    assert not (cloud.state_dir / "up.json").exists()


def processes_holding_files_under(folder: Path) -> list[int]:
    """Every process with a file open under `folder` (each emulator keeps its log there open)."""
    holders = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(str(link.readlink()).startswith(str(folder)) for link in fd_dir.iterdir()):
                holders.append(int(fd_dir.parent.name))
        except OSError:
            continue  # gone, or not ours to read
    return holders


def test_a_start_that_fails_stops_what_it_started_and_says_why(tmp_path: Path):
    # GIVEN a machine without gcloud (PATH holds only this venv: moto and bqemulator still start)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_EVENTS_")}
    env["PATH"] = str(Path(sys.executable).parent)
    # WHEN up starts
    done = subprocess.run(
        [sys.executable, "-m", "tooling.cli.main", "up", "--state-dir", str(tmp_path), "--no-inference"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=180,
    )
    # THEN it names the missing emulator, exits 1, and the emulators that did start are gone
    assert done.returncode == 1, done.stdout[-2000:]
    assert "could not start" in done.stdout and "gcloud is not on PATH" in done.stdout
    assert "none left running" in done.stdout
    assert processes_holding_files_under(tmp_path) == []
    assert not (tmp_path / "up.json").exists()


def test_sigterm_stops_up_like_ctrl_c(tmp_path: Path):
    # GIVEN a running up (a service manager or `kill` stops it with SIGTERM, not Ctrl-C)
    running = RunningUp.start(tmp_path, "--no-inference", "--no-schedules")
    groups = [e["pid"] for e in running.state["emulators"].values()]
    groups += [f["pid"] for f in running.state["functions"].values()]
    # WHEN it gets SIGTERM
    running.process.send_signal(signal.SIGTERM)
    code = running.process.wait(timeout=60)
    # THEN the same clean stop: exit 0, every group gone, nothing holding its state dir open
    assert code == 0, running.console()[-3000:]
    assert "none left running" in running.console()
    assert [pgid for pgid in groups if group_alive(pgid)] == []
    assert processes_holding_files_under(running.state_dir) == []
