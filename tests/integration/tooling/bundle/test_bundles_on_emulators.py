"""The deploy bundles on the emulators profile: the cloud adapters, in the artifact that deploys.

The functional tier replays every fixture through each bundle on the embedded profile; here each bundle
talks to the real emulators through the SDKs its requirements.txt pins (and, for the Lambda, the ones it
carries): GCS, Firestore and BigQuery for the GCP functions, DynamoDB, SSM and Secrets Manager for the
Lambda, which then patches the Kubernetes API test server. Only what the process is given reaches it:
the emulator endpoints and the function's settings, nothing of this test process.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import numpy as np
import pytest

from shared.adapters.bigquery_drift_runs import BigQueryDriftRunStore
from shared.adapters.bigquery_registry import BigQueryRegistryTable
from shared.rollout import deployment as k8s
from tests.integration.conftest import PROJECT
from tests.integration.functions.test_drift_report_on_emulators import RUN, load, parquet_object, rows
from tests.integration.functions.test_register_model_on_emulators import SAFETENSORS, bigquery_rows, upload_event
from tests.support.bundles import run_lambda, serve_bundle
from tooling.delivery import delivery_from_document
from tooling.fixture_factory import ecr_image_action_event, pubsub_cloud_event, render
from tooling.localcloud.k8s_api_server import KubernetesApiServer
from tooling.localcloud.slack_receiver import SlackReceiver

pytestmark = pytest.mark.integration


def gcp_settings(tmp_path: Path, *emulators, **settings: str) -> dict[str, str]:
    endpoints = {k: v for emulator in emulators for k, v in emulator.env.items()}
    base = {
        "MLOPS_EVENTS_PROFILE": "emulators",
        "MLOPS_EVENTS_GCP_PROJECT": PROJECT,
        "MLOPS_EVENTS_STATE_DIR": str(tmp_path),
    }
    return {**endpoints, **base, **settings}


@pytest.fixture
def slack():
    with SlackReceiver() as receiver:
        yield receiver


def test_register_model_bundle_registers_an_upload_in_firestore_and_bigquery(
    firestore_db,
    firestore_emulator,
    gcs_emulator,
    storage_client,
    bigquery_emulator,
    bigquery_client,
    unpacked_bundle,
    bundle_environments,
    tmp_path,
):
    # GIVEN the model bucket in fake-gcs-server, the registry table in bqemulator, and a real upload
    env, dataset = f"it{uuid.uuid4().hex[:10]}", f"ml_registry_{uuid.uuid4().hex[:10]}"
    BigQueryRegistryTable(bigquery_client, f"{PROJECT}.{dataset}.models").ensure_table()
    bucket = storage_client.create_bucket(f"ml-models-{env}")
    event = upload_event(bucket, "fraud/v4/model.safetensors", SAFETENSORS, uploader="alice")
    settings = gcp_settings(
        tmp_path, firestore_emulator, gcs_emulator, bigquery_emulator, MLOPS_EVENTS_BIGQUERY_DATASET=dataset
    )
    folder = unpacked_bundle("register_model")

    # WHEN Eventarc's event reaches the bundle, then its redelivery in the other CloudEvent mode
    with serve_bundle(folder, bundle_environments.for_bundle(folder), settings, tmp_path / "fn.log") as function:
        first = function.deliver(delivery_from_document(event))
        again = function.deliver(delivery_from_document(render(event, "binary")))

    # THEN the header bytes came from fake-gcs-server, the version is in Firestore and BigQuery, once
    assert (first.outcome, again.outcome) == ("applied", "duplicate"), first.detail
    assert "fraud v4" in first.detail and "as safetensors" in first.detail
    versions = firestore_db.collection("models").document("fraud").collection("versions").document("4").get()
    [file] = versions.get("files").values()
    assert (file["path"], file["uploader"], file["env"]) == ("model.safetensors", "alice", env)
    assert [(row["version"], row["format"]) for row in bigquery_rows(bigquery_client, dataset)] == [(4, "safetensors")]


def test_budget_alert_bundle_posts_a_crossed_threshold_once(
    firestore_db, firestore_emulator, unpacked_bundle, bundle_environments, slack, tmp_path
):
    # GIVEN the alert ledger in the Firestore emulator and the Slack webhook at the local receiver
    settings = gcp_settings(tmp_path, firestore_emulator, MLOPS_EVENTS_SLACK_WEBHOOK_URL=slack.url)
    body = {
        "budgetDisplayName": f"team-{uuid.uuid4().hex[:6]}",
        "alertThresholdExceeded": 0.5,
        "costAmount": 512.3,
        "costIntervalStart": "2026-11-01T07:00:00Z",
        "budgetAmount": 1000.0,
        "budgetAmountType": "SPECIFIED_AMOUNT",
        "currencyCode": "USD",
    }
    attributes = {"billingAccountId": "01D4EE-079462-DFD6EC", "budgetId": str(uuid.uuid4()), "schemaVersion": "1.0"}
    event = pubsub_cloud_event(body, topic="billing-budget-alerts", attributes=attributes, event_id="1")
    folder = unpacked_bundle("budget_alert")

    # WHEN the notification is delivered, and Pub/Sub delivers it again under another message id
    with serve_bundle(folder, bundle_environments.for_bundle(folder), settings, tmp_path / "fn.log") as function:
        first = function.deliver(delivery_from_document(event))
        again = function.deliver(delivery_from_document({**event, "id": "2"}))

    # THEN one Slack message, and the ledger in Firestore knows the threshold was posted
    assert (first.outcome, again.outcome) == ("applied", "duplicate"), (first.detail, again.detail)
    assert len(slack.posts) == 1 and f"Budget {body['budgetDisplayName']} spent 50%" in slack.posts[0]["text"]
    [ledger] = [doc.to_dict() for doc in firestore_db.collection("budget_alerts").stream()]
    assert attributes["budgetId"] in ledger["scope"] and ledger["highest"] == 0.5


def test_drift_report_bundle_reads_gcs_and_bigquery_and_writes_its_report(
    firestore_db,
    firestore_emulator,
    gcs_emulator,
    storage_client,
    bigquery_emulator,
    bigquery_client,
    unpacked_bundle,
    bundle_environments,
    slack,
    tmp_path,
):
    # GIVEN a Parquet reference in fake-gcs-server (DuckDB through fsspec) and the serving window in bqemulator
    suffix = uuid.uuid4().hex[:8]
    env, features, monitoring = f"it{suffix}", f"{PROJECT}.features_{suffix}", f"ml_monitoring_{suffix}"
    bigquery_client.create_dataset(features)
    rng = np.random.default_rng(9)
    load(bigquery_client, f"{features}.serving", rows(rng, 400, shifted=True, end=RUN))
    storage_client.create_bucket(f"ml-drift-{env}")
    parquet_object(
        storage_client,
        f"ml-drift-{env}",
        "fraud/reference/part-0.parquet",
        rows(rng, 600, shifted=False, end=RUN - timedelta(days=30)),
    )
    storage_client.create_bucket(f"ml-drift-logs-{env}")
    BigQueryDriftRunStore(bigquery_client, f"{PROJECT}.{monitoring}.drift_runs").ensure_table()
    settings = gcp_settings(
        tmp_path,
        firestore_emulator,
        gcs_emulator,
        bigquery_emulator,
        MLOPS_EVENTS_MONITORING_DATASET=monitoring,
        MLOPS_EVENTS_SLACK_WEBHOOK_URL=slack.url,
    )
    body = {
        "model": "fraud",
        "env": env,
        "reference": {"uri": f"gs://ml-drift-{env}/fraud/reference/*.parquet"},
        "current": {"uri": f"bq://{features}.serving", "timestamp_column": "event_time", "window_hours": 24},
    }
    attributes = {"scheduler_job": "drift-fraud", "schedule_time": "2026-11-20T06:00:00Z"}
    event = pubsub_cloud_event(body, topic="drift-report", attributes=attributes, event_id=uuid.uuid4().hex)
    folder = unpacked_bundle("drift_report")

    # WHEN Cloud Scheduler's message reaches the bundle
    with serve_bundle(folder, bundle_environments.for_bundle(folder), settings, tmp_path / "fn.log") as function:
        result = function.deliver(delivery_from_document(event))

    # THEN the report is in the drift-logs bucket, the run in BigQuery, the alert in Slack
    assert result.outcome == "applied" and "DRIFT in 2 of 2 features" in result.detail, result.detail
    names = sorted(b.name for b in storage_client.list_blobs(f"ml-drift-logs-{env}", prefix="drift/"))
    assert [n.rsplit("/", 1)[1] for n in names] == ["060000-drift-fraud-report.html", "060000-drift-fraud-summary.json"]
    summary = json.loads(storage_client.bucket(f"ml-drift-logs-{env}").blob(names[1]).download_as_bytes())
    assert (summary["reference_rows"], summary["current_rows"]) == (600, 400)
    [run] = bigquery_client.query(f"SELECT run_key FROM `{PROJECT}.{monitoring}.drift_runs`").result()
    assert run["run_key"] == "drift-fraud@2026-11-20T06:00:00+00:00"
    assert len(slack.posts) == 1


def test_ecr_rollout_bundle_rolls_a_push_out_once_with_its_own_packages(
    aws, moto_server, unpacked_bundle, bundle_environments, slack, tmp_path
):
    # GIVEN what the cloud holds, on moto: the idempotency table, the targets, the kubeconfig and
    # webhook secrets; and a token-guarded cluster running the old digest
    registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    digest = f"sha256:{'c' * 64}"
    cluster = KubernetesApiServer(token="cluster-token-for-bundle-tests")
    cluster.add_deployment("ml", "inference", f"{registry}/ml/inference@sha256:{'a' * 64}", container="server")
    table = f"idempotency-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    targets = "targets:\n  - {repository: ml/inference, namespace: ml, deployment: inference, container: server}\n"
    boto3.client("ssm").put_parameter(Name="/mlops-events/rollout-targets", Value=targets, Type="String")
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(
        Name="rollout-kubeconfig", SecretString=Path(cluster.kubeconfig(tmp_path / "kubeconfig")).read_text()
    )
    secrets.create_secret(Name="slack-webhook", SecretString=slack.url)
    settings = {
        **moto_server.env,
        "MLOPS_EVENTS_PROFILE": "emulators",
        "MLOPS_EVENTS_STATE_DIR": str(tmp_path / "state"),
        "MLOPS_EVENTS_IDEMPOTENCY_TABLE": table,
        "MLOPS_EVENTS_ROLLOUT_TARGETS_PARAMETER": "/mlops-events/rollout-targets",
        "MLOPS_EVENTS_KUBECONFIG_SECRET": "rollout-kubeconfig",
        "MLOPS_EVENTS_SLACK_WEBHOOK_AWS_SECRET": "slack-webhook",
        "MLOPS_EVENTS_ROLLOUT_POLL_S": "0.05",
        "POWERTOOLS_SERVICE_NAME": "ecr_rollout",
    }
    push = ecr_image_action_event(
        "ml/inference", digest, tag="1.4.0", time=datetime(2026, 11, 25, 14, tzinfo=UTC), event_id="evt-1"
    )
    folder = unpacked_bundle("ecr_rollout")
    try:
        # WHEN EventBridge invokes the Lambda with the push, then again (at-least-once)
        with run_lambda(folder, bundle_environments.for_bundle(folder), settings, tmp_path / "fn.log") as function:
            first, answer = function.invoke(push, "push")
            again, _ = function.invoke(push, "push again")

        # THEN the Deployment runs the pushed digest, patched once; DynamoDB holds the completed record
        assert (first.outcome, answer["statuses"], again.outcome) == ("applied", ["succeeded"], "duplicate"), answer
        assert sum(1 for r in cluster.requests if r.method == "PATCH") == 1
        image = k8s.container_image(cluster.deployment("ml", "inference"), "server")
        assert image == f"{registry}/ml/inference@{digest}"
        [item] = boto3.client("dynamodb").scan(TableName=table)["Items"]
        assert item["status"]["S"] == "COMPLETED"
        assert len(slack.posts) == 1 and "succeeded" in slack.posts[0]["text"]
    finally:
        cluster.stop()
