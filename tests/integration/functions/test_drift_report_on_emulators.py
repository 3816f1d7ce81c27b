"""drift_report end to end on the emulators profile: BigQuery tables (bqemulator) in, report in
fake-gcs-server, the run row in BigQuery, the alert at the local Slack receiver."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tests.integration.conftest import PROJECT
from tooling.delivery import delivery_from_document
from tooling.fixture_factory import pubsub_cloud_event
from tooling.manifest import function_named
from tooling.replay import Replayer

pytestmark = pytest.mark.integration
RUN = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def load(bigquery_client, table_id: str, rows: list[dict]) -> None:
    from google.cloud import bigquery

    schema = [
        bigquery.SchemaField("event_time", "TIMESTAMP"),
        bigquery.SchemaField("amount", "FLOAT64"),
        bigquery.SchemaField("country", "STRING"),
    ]
    bigquery_client.create_table(bigquery.Table(table_id, schema=schema))
    errors = bigquery_client.insert_rows_json(table_id, rows)
    assert errors == []


def rows(rng, n: int, *, shifted: bool, end: datetime) -> list[dict]:
    countries = ["FR", "US"]
    return [
        {
            "event_time": (end - timedelta(minutes=int(rng.integers(1, 600)))).isoformat(),
            "amount": float(rng.normal(80 if shifted else 50, 10)),
            "country": countries[int(rng.random() < (0.8 if shifted else 0.2))],
        }
        for _ in range(n)
    ]


@pytest.fixture
def setup(monkeypatch, tmp_path, firestore_db, storage_client, bigquery_client, bigquery_emulator, slack):
    from shared.adapters.bigquery_drift_runs import BigQueryDriftRunStore

    suffix = uuid.uuid4().hex[:8]
    env = f"it{suffix}"
    features = f"{PROJECT}.features_{suffix}"
    bigquery_client.create_dataset(features)
    rng = np.random.default_rng(6)
    load(bigquery_client, f"{features}.reference", rows(rng, 600, shifted=False, end=RUN - timedelta(days=30)))
    load(bigquery_client, f"{features}.serving", rows(rng, 400, shifted=True, end=RUN))
    storage_client.create_bucket(f"ml-drift-logs-{env}")
    monitoring = f"ml_monitoring_{suffix}"
    BigQueryDriftRunStore(bigquery_client, f"{PROJECT}.{monitoring}.drift_runs").ensure_table()
    for name, value in {
        "MLOPS_EVENTS_PROFILE": "emulators",
        "MLOPS_EVENTS_GCP_PROJECT": PROJECT,
        "MLOPS_EVENTS_BIGQUERY_ENDPOINT": bigquery_emulator.url,
        "MLOPS_EVENTS_MONITORING_DATASET": monitoring,
        "MLOPS_EVENTS_SLACK_WEBHOOK_URL": slack.url,
        "MLOPS_EVENTS_STATE_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    return {"env": env, "features": features, "monitoring": monitoring}


def test_a_scheduled_run_over_bigquery_tables_reports_records_and_alerts(setup, storage_client, bigquery_client, slack):
    body = {
        "model": "fraud",
        "env": setup["env"],
        "reference": {"uri": f"bq://{setup['features']}.reference"},
        "current": {"uri": f"bq://{setup['features']}.serving", "timestamp_column": "event_time", "window_hours": 24},
    }
    attributes = {"scheduler_job": "drift-fraud", "schedule_time": "2026-11-20T06:00:00Z"}
    event = pubsub_cloud_event(body, topic="drift-report", attributes=attributes, event_id=uuid.uuid4().hex)
    replayer, spec = Replayer(), function_named("drift_report")

    first = replayer.deliver(spec, delivery_from_document(event), label="run")
    again = replayer.deliver(spec, delivery_from_document(event), label="run")

    assert first.outcome == "applied" and "DRIFT in 2 of 2 features" in first.detail, first.detail
    assert again.outcome == "duplicate"
    names = sorted(b.name for b in storage_client.list_blobs(f"ml-drift-logs-{setup['env']}"))
    assert names == [
        f"drift/fraud/{setup['env']}/2026-11-20/060000-drift-fraud-{k}" for k in ("report.html", "summary.json")
    ]
    summary = json.loads(storage_client.bucket(f"ml-drift-logs-{setup['env']}").blob(names[1]).download_as_bytes())
    assert summary["current_rows"] == 400 and summary["dataset_drifted"] is True
    [run] = bigquery_client.query(f"SELECT * FROM `{PROJECT}.{setup['monitoring']}.drift_runs`").result()
    assert (run["run_key"], sorted(run["drifted_features"])) == (
        "drift-fraud@2026-11-20T06:00:00+00:00",
        ["amount", "country"],
    )
    assert len(slack.posts) == 1 and "Data drift in fraud" in slack.posts[0]["text"]


def parquet_object(storage_client, bucket: str, name: str, rows_: list[dict]) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "event_time": pa.array([datetime.fromisoformat(r["event_time"]) for r in rows_], pa.timestamp("us", "UTC")),
            "amount": [r["amount"] for r in rows_],
            "country": [r["country"] for r in rows_],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    storage_client.bucket(bucket).blob(name).upload_from_string(buffer.getvalue())


def test_a_parquet_reference_in_gcs_against_a_bigquery_window_and_its_cached_profile(
    setup, storage_client, bigquery_client, slack
):
    # GIVEN the training reference as Parquet in a GCS bucket, the serving data in BigQuery
    data_bucket = f"ml-drift-{setup['env']}"
    storage_client.create_bucket(data_bucket)
    rng = np.random.default_rng(8)
    for part in range(2):
        reference_rows = rows(rng, 500, shifted=False, end=RUN - timedelta(days=30))
        parquet_object(storage_client, data_bucket, f"fraud/reference/part-{part}.parquet", reference_rows)
    body = {
        "model": "fraud",
        "env": setup["env"],
        "reference": {"uri": f"gs://{data_bucket}/fraud/reference/*.parquet"},
        "current": {"uri": f"bq://{setup['features']}.serving", "timestamp_column": "event_time", "window_hours": 24},
    }
    replayer, spec = Replayer(), function_named("drift_report")
    logs = f"ml-drift-logs-{setup['env']}"

    # WHEN two scheduled runs happen, six hours apart
    outcomes = []
    for schedule_time in ("2026-11-20T06:00:00Z", "2026-11-20T12:00:00Z"):
        attributes = {"scheduler_job": "drift-fraud", "schedule_time": schedule_time}
        event = pubsub_cloud_event(body, topic="drift-report", attributes=attributes, event_id=uuid.uuid4().hex)
        outcomes.append(replayer.deliver(spec, delivery_from_document(event), label="run"))

    # THEN both compare 1000 Parquet rows with the BigQuery window, and the reference was profiled
    # once: its profile sits in the drift-logs bucket for every later run
    assert [o.outcome for o in outcomes] == ["applied", "applied"], [o.detail for o in outcomes]
    assert all("DRIFT in 2 of 2 features" in o.detail for o in outcomes)
    cached = [b.name for b in storage_client.list_blobs(logs, prefix="drift-cache/reference/")]
    assert len(cached) == 1
    reports = sorted(b.name for b in storage_client.list_blobs(logs, prefix="drift/") if b.name.endswith(".json"))
    assert [name.split("/")[-1] for name in reports] == [
        "060000-drift-fraud-summary.json",
        "120000-drift-fraud-summary.json",
    ]
    first, second = (json.loads(storage_client.bucket(logs).blob(name).download_as_bytes()) for name in reports)
    assert first["reference_rows"] == 1_000
    assert len(slack.posts) == 2
    # AND the second report charts each feature's score from the first, read back from BigQuery
    assert first["history"] == {"runs": [first["run_key"]], "started_at": [first["generated_at"]], "features": {
        f["feature"]: {"method": f["method"], "threshold": f["threshold"], "values": [f["value"]], "drifted": [True]}
        for f in first["features"]
    }}  # fmt: skip
    assert second["history"]["runs"] == [first["run_key"], second["run_key"]]
    assert second["history"]["features"]["amount"]["values"][0] == next(
        f["value"] for f in first["features"] if f["feature"] == "amount"
    )
