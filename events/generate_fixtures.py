"""Writes the sample model files under events/objects/ and every fixture under events/ from them.

Run `python events/generate_fixtures.py` after changing an event shape; the output is committed.
Sizes and checksums in the fixtures are those of the sample files, so the demo's local bucket and
the events agree as they would in GCS. Ids and times are fixed so the output is reproducible.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import re
import shutil
import struct
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tooling.fixture_factory import (
    ecr_image_action_event,
    pubsub_cloud_event,
    render,
    storage_cloud_event,
    storage_object_data,
    write_fixture,
)

EVENTS = Path(__file__).resolve().parent
OBJECTS = EVENTS / "objects"
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
FINALIZED = "google.cloud.storage.object.v1.finalized"
DELETED = "google.cloud.storage.object.v1.deleted"


def safetensors_bytes(tensors: dict[str, list[float]], metadata: dict[str, str]) -> bytes:
    header: dict[str, object] = {"__metadata__": metadata}
    payload = b""
    for name, values in tensors.items():
        raw = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": [len(values)], "data_offsets": [len(payload), len(payload) + len(raw)]}
        payload += raw
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header to 8 bytes
    return struct.pack("<Q", len(encoded)) + encoded + payload


def torch_zip_bytes() -> bytes:
    """The layout torch.save writes since 1.6: `archive/data.pkl` first, then version and tensor data."""
    buffer = io.BytesIO()
    entries = {
        "archive/data.pkl": pickle.dumps({"weight": "storage:0"}, protocol=2),
        "archive/byteorder": b"little",
        "archive/data/0": struct.pack("<4f", 0.1, 0.2, 0.3, 0.4),
        "archive/version": b"3\n",
    }
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in entries.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 2, 9, 0, 0)), content)
    return buffer.getvalue()


def onnx_bytes(producer: str) -> bytes:
    """A ModelProto preamble: ir_version (field 1) = 8, producer_name (field 2)."""
    name = producer.encode()
    return b"\x08\x08\x12" + bytes([len(name)]) + name + b"\x1a\x031.0" + b"\x00" * 16


SAMPLES: dict[str, tuple[bytes, str]] = {
    "ml-models-dev/fraud-detector/v1/model.safetensors": (
        safetensors_bytes({"dense.weight": [0.5, -0.25, 0.125, 1.0], "dense.bias": [0.0]}, {"format": "pt"}),
        "application/octet-stream",
    ),
    "ml-models-dev/fraud-detector/v1/config.json": (
        json.dumps({"features": ["amount", "merchant_risk", "hour"], "threshold": 0.7}).encode(),
        "application/json",
    ),
    "ml-models-dev/fraud-detector/v2/model.pt": (torch_zip_bytes(), "application/octet-stream"),
    "ml-models-dev/churn-model/v1/model.pkl": (
        pickle.dumps({"coef": [0.3, -1.2]}, protocol=4),
        "application/octet-stream",
    ),
    "ml-models-dev/churn-model/v2/model.onnx": (onnx_bytes("skl2onnx"), "application/octet-stream"),
    "ml-models-dev/churn-model/v3/model.onnx": (onnx_bytes("pytorch"), "application/octet-stream"),
}
# In the bucket with no event ever delivered for it: the daily reconcile registers it.
LOST_EVENT_SAMPLE = "ml-models-dev/churn-model/v3/metrics.json"
SAMPLES[LOST_EVENT_SAMPLE] = (json.dumps({"auc": 0.912, "logloss": 0.231}).encode(), "application/json")
METADATA = {"git_sha": "3f9c2ab", "metrics": '{"auc": 0.931}', "uploader": "ci@example-project.iam.gserviceaccount.com"}


def write_samples() -> None:
    if OBJECTS.exists():
        shutil.rmtree(OBJECTS)
    for path, (content, _) in SAMPLES.items():
        target = OBJECTS / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def object_event(
    event_type: str,
    path: str,
    *,
    minutes: int,
    generation: int | None = None,
    metadata: dict[str, str] | None = None,
    name: str | None = None,
) -> dict:
    bucket, _, sample_name = path.partition("/")
    content, content_type = SAMPLES.get(path, (b"", "application/octet-stream"))
    created = T0 + timedelta(minutes=minutes)
    generation = generation or int(created.timestamp() * 1_000_000)
    data = storage_object_data(
        bucket,
        name or sample_name,
        generation=generation,
        content=content,
        content_type=content_type,
        metadata=metadata,
        time_created=created,
    )
    event_id = f"{9_800_000_000_000_000 + minutes}"
    return storage_cloud_event(event_type, data, event_id=event_id, time=created + timedelta(seconds=1))


DRIFT_GENERATION = int(T0.timestamp() * 1_000_000) + 7
DRIFT_RUN_TIME = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
DRIFT_OBJECTS = {
    "ml-drift-dev/fraud-detector/reference/part-0.parquet": (False, 5_000, 21),
    "ml-drift-dev/fraud-detector/current/part-0.parquet": (True, 3_000, 22),
}


def drift_table(shifted: bool, rows: int, seed: int):
    """Transactions of a fraud model's features; the current side spends more and moves abroad."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    countries = np.array(["FR", "DE", "ES", "IT", "US", "BR"], dtype=object)
    weights = [0.1, 0.1, 0.1, 0.1, 0.35, 0.25] if shifted else [0.35, 0.25, 0.15, 0.15, 0.05, 0.05]
    end = DRIFT_RUN_TIME if shifted else DRIFT_RUN_TIME - timedelta(days=60)
    span = timedelta(hours=20) if shifted else timedelta(days=30)
    offsets = rng.random(rows) * span.total_seconds()
    return pa.table(
        {
            "event_time": pa.array([end - timedelta(seconds=float(o)) for o in offsets], pa.timestamp("us", tz="UTC")),
            "amount": np.round(rng.lognormal(3.6 if shifted else 3.2, 0.6, rows), 2),
            "merchant_risk": rng.beta(2, 5, rows),
            "hour": rng.integers(0, 24, rows),
            "country": countries[rng.choice(len(countries), rows, p=weights)],
            "device": np.array(["ios", "android", "web"], dtype=object)[rng.integers(0, 3, rows)],
        }
    )


def write_drift_objects() -> None:
    import pyarrow.parquet as pq

    for path, (shifted, rows, seed) in DRIFT_OBJECTS.items():
        target = OBJECTS / path
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(drift_table(shifted, rows, seed), target)


def write_object_index(events: list[dict]) -> None:
    """`objects/index.json`: the newest generation a finalize fixture names for each sample file.

    The demo seeds its local bucket from it, so the function reads the very object version the event names.
    """
    index: dict[str, dict] = {}
    for event in events:
        data = event["data"]
        if event["type"] != FINALIZED or f"{data['bucket']}/{data['name']}" not in SAMPLES:
            continue
        key = f"{data['bucket']}/{data['name']}"
        if int(data["generation"]) > int(index.get(key, {}).get("generation", 0)):
            index[key] = {k: data.get(k) for k in ("generation", "contentType", "metadata") if data.get(k) is not None}
    for path in DRIFT_OBJECTS:
        index[path] = {"generation": str(DRIFT_GENERATION), "contentType": "application/vnd.apache.parquet"}
    index[LOST_EVENT_SAMPLE] = {
        "generation": str(int(T0.timestamp() * 1_000_000) + 61),
        "contentType": "application/json",
    }
    (OBJECTS / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def write_storage_fixtures() -> None:
    out = EVENTS / "storage"
    if out.exists():
        shutil.rmtree(out)
    fd1 = "ml-models-dev/fraud-detector/v1/model.safetensors"
    first_upload = object_event(FINALIZED, fd1, minutes=0, metadata=METADATA)
    reupload = object_event(FINALIZED, fd1, minutes=90, metadata={**METADATA, "git_sha": "77d01e4"})
    reupload_generation = int(reupload["data"]["generation"])
    well_formed = {
        "01-finalized-safetensors.structured.json": (first_upload, "structured"),
        "02-finalized-config.binary.json": (
            object_event(FINALIZED, "ml-models-dev/fraud-detector/v1/config.json", minutes=1),
            "binary",
        ),
        "03-finalized-torch-zip.legacy.json": (
            object_event(FINALIZED, "ml-models-dev/fraud-detector/v2/model.pt", minutes=30, metadata=METADATA),
            "legacy",
        ),
        "04-finalized-pickle-unsafe.binary.json": (
            object_event(FINALIZED, "ml-models-dev/churn-model/v1/model.pkl", minutes=40),
            "binary",
        ),
        "05-finalized-onnx-v3.structured.json": (
            object_event(FINALIZED, "ml-models-dev/churn-model/v3/model.onnx", minutes=60),
            "structured",
        ),
        # Uploaded before v3 but delivered after it: latest must stay v3.
        "06-finalized-onnx-v2-late.structured.json": (
            object_event(FINALIZED, "ml-models-dev/churn-model/v2/model.onnx", minutes=50),
            "structured",
        ),
        # Same path uploaded again: a new generation supersedes the first one...
        "07-finalized-safetensors-reupload.structured.json": (reupload, "structured"),
        # ...and GCS reports the overwritten generation as deleted.
        "08-deleted-overwritten-generation.structured.json": (
            object_event(DELETED, fd1, minutes=91, generation=int(first_upload["data"]["generation"])),
            "structured",
        ),
        "09-deleted-pickle.binary.json": (
            object_event(DELETED, "ml-models-dev/churn-model/v1/model.pkl", minutes=40),
            "binary",
        ),
        "10-ignored-folder-placeholder.structured.json": (
            object_event(FINALIZED, "ml-models-dev/x", minutes=100, name="fraud-detector/v3/"),
            "structured",
        ),
        "11-ignored-outside-version-folder.structured.json": (
            object_event(FINALIZED, "ml-models-dev/x", minutes=101, name="fraud-detector/README.md"),
            "structured",
        ),
        "12-ignored-partial-upload.binary.json": (
            object_event(FINALIZED, "ml-models-dev/x", minutes=102, name="fraud-detector/v3/model.safetensors.part"),
            "binary",
        ),
        "13-ignored-other-bucket.structured.json": (
            object_event(FINALIZED, "ml-datasets-dev/x", minutes=103, name="fraud-detector/v1/train.parquet"),
            "structured",
        ),
        # On the versioned models bucket, deleting the live re-upload (07) keeps it as a noncurrent
        # version and GCS sends `archived`: v1's model file is no longer live.
        "14-archived-live-version.legacy.json": (
            object_event("google.cloud.storage.object.v1.archived", fd1, minutes=104, generation=reupload_generation),
            "legacy",
        ),
    }
    fixtures = {name: render(event, mode) for name, (event, mode) in well_formed.items()}
    missing_name = object_event(FINALIZED, fd1, minutes=110)
    del missing_name["data"]["name"]
    fixtures["20-malformed-missing-name.structured.json"] = missing_name
    bad_generation = render(object_event(FINALIZED, fd1, minutes=111), "binary")
    bad_generation["body"]["generation"] = "latest"
    fixtures["21-malformed-generation.binary.json"] = bad_generation
    not_json = render(object_event(FINALIZED, fd1, minutes=112), "binary")
    del not_json["body"]
    not_json["body_raw"] = "bucket=ml-models-dev&name=fraud-detector/v1/model.safetensors"
    fixtures["22-malformed-data-not-json.binary.json"] = not_json
    fixtures["23-malformed-not-a-cloudevent.binary.json"] = {
        "headers": {"Content-Type": "application/json", "ce-type": FINALIZED},
        "body": {"bucket": "ml-models-dev", "name": "fraud-detector/v1/model.safetensors"},
    }
    array_data = object_event(FINALIZED, fd1, minutes=114)
    array_data["data"] = [array_data["data"]]
    fixtures["24-malformed-data-array.structured.json"] = array_data
    bad_time = object_event(FINALIZED, fd1, minutes=115)
    bad_time["data"]["timeCreated"] = "yesterday at noon"
    fixtures["25-malformed-time-created.structured.json"] = bad_time
    for name, content in fixtures.items():
        write_fixture(out / name, content)
    write_object_index([event for event, _ in well_formed.values()])


def write_evaluate_fixtures() -> None:
    """evaluate_model's: the same GCS finalize events register_model hears (its own Eventarc trigger on the
    models bucket), of which only a version's metrics.json is evaluated. Replayed alone, there is no
    champion yet: the churn model's metrics (the sample no event reached) pass and become candidate and,
    dev auto-promoting, champion."""
    out = EVENTS / "evaluate"
    if out.exists():
        shutil.rmtree(out)
    metrics_generation = int(T0.timestamp() * 1_000_000) + 61  # the sample's, as objects/index.json seeds it
    metrics = object_event(FINALIZED, LOST_EVENT_SAMPLE, minutes=300, generation=metrics_generation)
    well_formed = {
        "01-finalized-metrics-no-champion.structured.json": (metrics, "structured"),
        # A model file or a deletion is register_model's alone as far as local replay goes: evaluate_model
        # ignores them (tests/unit/handlers/test_evaluate_model_handler.py), the cloud delivers it the first too.
        "04-ignored-other-bucket.binary.json": (
            object_event(FINALIZED, "ml-datasets-dev/x", minutes=303, name="churn-model/v3/metrics.json"),
            "binary",
        ),
        # An older generation than the bucket holds: overwritten since, its own event comes (or came).
        "05-ignored-overwritten-generation.structured.json": (
            object_event(FINALIZED, LOST_EVENT_SAMPLE, minutes=304, generation=metrics_generation - 1),
            "structured",
        ),
    }
    fixtures = {name: render(event, mode) for name, (event, mode) in well_formed.items()}
    bad_generation = render(object_event(FINALIZED, LOST_EVENT_SAMPLE, minutes=310), "binary")
    bad_generation["body"]["generation"] = "latest"
    fixtures["20-malformed-generation.binary.json"] = bad_generation
    missing_bucket = object_event(FINALIZED, LOST_EVENT_SAMPLE, minutes=311)
    del missing_bucket["data"]["bucket"]
    fixtures["21-malformed-missing-bucket.structured.json"] = missing_bucket
    for name, content in fixtures.items():
        write_fixture(out / name, content)


def write_scheduler_fixtures() -> None:
    out = EVENTS / "scheduler"
    if out.exists():
        shutil.rmtree(out)
    attributes = {"scheduler_job": "reconcile-registry", "schedule_time": "2026-11-03T03:17:00Z"}
    run = pubsub_cloud_event(
        {},
        topic="reconcile-registry",
        attributes=attributes,
        event_id="9900000000000001",
        time=datetime(2026, 11, 3, 3, 17, 2, tzinfo=UTC),
    )
    write_fixture(out / "reconcile-registry.structured.json", render(run, "structured"))
    named = pubsub_cloud_event(
        {"buckets": ["ml-models-dev"]},
        topic="reconcile-registry",
        attributes={**attributes, "schedule_time": "2026-11-04T03:17:00Z"},
        event_id="9900000000000002",
        time=datetime(2026, 11, 4, 3, 17, 2, tzinfo=UTC),
    )
    write_fixture(out / "reconcile-registry-named-buckets.binary.json", render(named, "binary"))
    bad = pubsub_cloud_event(
        {"buckets": "ml-models-dev"},
        topic="reconcile-registry",
        attributes=attributes,
        event_id="9900000000000003",
        time=datetime(2026, 11, 5, 3, 17, 2, tzinfo=UTC),
    )
    write_fixture(out / "reconcile-registry-malformed-buckets.structured.json", bad)
    bad64 = pubsub_cloud_event(
        {}, topic="reconcile-registry", event_id="9900000000000004", time=datetime(2026, 11, 6, 3, 17, 2, tzinfo=UTC)
    )
    bad64["data"]["message"]["data"] = "not*base64!"
    write_fixture(out / "reconcile-registry-malformed-base64.structured.json", bad64)


BUDGET_ACCOUNT = "01D4EE-079462-DFD6EC"


def budget_event(
    minutes: int,
    *,
    name: str = "ml-platform-prod",
    budget_id: str = "3f1c8a52-6e0b-4c8e-9d2a-7b1f0c9e4d11",
    cost: float,
    amount: float = 1000.0,
    currency: str = "USD",
    interval: str = "2026-11-01T07:00:00Z",
    actual: float | None = None,
    forecast: float | None = None,
    schema: str = "1.0",
    snake_case: bool = False,
) -> dict:
    """A budget notification as Cloud Billing publishes it to the budget's topic."""
    data: dict = {
        "budgetDisplayName": name,
        "costAmount": cost,
        "costIntervalStart": interval,
        "budgetAmount": amount,
        "budgetAmountType": "SPECIFIED_AMOUNT",
        "currencyCode": currency,
    }
    if actual is not None:
        data["alertThresholdExceeded"] = actual
    if forecast is not None:
        data["forecastThresholdExceeded"] = forecast
    attributes = {"billingAccountId": BUDGET_ACCOUNT, "budgetId": budget_id, "schemaVersion": schema}
    if snake_case:
        data = {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): v for k, v in data.items()}
    event = pubsub_cloud_event(
        data,
        topic="billing-budget-alerts",
        attributes=attributes,
        event_id=f"{9_700_000_000_000_000 + minutes}",
        time=datetime(2026, 11, 20, 8, 0, tzinfo=UTC) + timedelta(minutes=minutes),
    )
    if snake_case:
        message = event["data"]["message"]
        message["message_id"] = message.pop("messageId")
        message["publish_time"] = message.pop("publishTime")
    return event


def write_budget_fixtures() -> None:
    out = EVENTS / "budget"
    if out.exists():
        shutil.rmtree(out)
    fixtures = {
        "01-routine-no-threshold.structured.json": (budget_event(0, cost=120.4), "structured"),
        "02-actual-50.structured.json": (budget_event(20, cost=512.3, actual=0.5), "structured"),
        # Published again later in the day with the same threshold: already posted.
        "03-actual-50-again.binary.json": (budget_event(40, cost=530.0, actual=0.5), "binary"),
        "04-forecast-100.structured.json": (budget_event(60, cost=600.0, forecast=1.0), "structured"),
        "05-actual-90.binary.json": (budget_event(80, cost=905.5, actual=0.9), "binary"),
        "06-actual-100.structured.json": (budget_event(100, cost=1012.0, actual=1.0), "structured"),
        # A 90% notification delivered after the 100% one: stale, stays quiet.
        "07-actual-90-after-100.structured.json": (budget_event(120, cost=950.0, actual=0.9), "structured"),
        # The next month re-arms every threshold.
        "08-new-month-actual-50.structured.json": (
            budget_event(130, cost=501.0, actual=0.5, interval="2026-12-01T08:00:00Z"),
            "structured",
        ),
        "09-eur-actual-50.binary.json": (
            budget_event(
                140,
                name="training-eu",
                budget_id="b7a0c1d2-0000-4e5f-8a9b-c0d1e2f3a4b5",
                cost=2600.0,
                amount=5000.0,
                currency="EUR",
                actual=0.5,
            ),
            "binary",
        ),
        "10-jpy-actual-120.structured.json": (
            budget_event(
                150,
                name="inference-tokyo",
                budget_id="c8b1d2e3-1111-4f60-9bac-d1e2f3a4b5c6",
                cost=1_260_000,
                amount=1_000_000,
                currency="JPY",
                actual=1.2,
            ),
            "structured",
        ),
        # A budget name trying to ping the channel and smuggle a link; and both kinds in one message.
        "11-hostile-name-actual-and-forecast.structured.json": (
            budget_event(
                160,
                name="<!channel> ops <https://evil.example|click> & co",
                budget_id="d9c2e3f4-2222-4a71-8cbd-e2f3a4b5c6d7",
                cost=800.0,
                actual=0.75,
                forecast=1.1,
            ),
            "structured",
        ),
        "12-snake-case-keys.binary.json": (
            budget_event(
                170,
                name="batch-scoring",
                budget_id="e0d3f4a5-3333-4b82-9dce-f3a4b5c6d7e8",
                cost=450.0,
                amount=500.0,
                actual=0.9,
                snake_case=True,
            ),
            "binary",
        ),
        "13-unknown-schema-version.structured.json": (
            budget_event(
                180,
                name="feature-store",
                budget_id="f1e4a5b6-4444-4c93-aedf-a4b5c6d7e8f9",
                cost=300.0,
                amount=500.0,
                actual=0.5,
                schema="2.0",
            ),
            "structured",
        ),
    }
    rendered = {name: render(event, mode) for name, (event, mode) in fixtures.items()}
    missing = budget_event(200, cost=10.0, actual=0.5)
    del missing["data"]["message"]["attributes"]["budgetId"]
    rendered["20-malformed-missing-budget-id.structured.json"] = missing
    bad64 = budget_event(201, cost=10.0, actual=0.5)
    bad64["data"]["message"]["data"] = "eyJidWRnZXQ!!"
    rendered["21-malformed-bad-base64.structured.json"] = bad64
    not_json = budget_event(202, cost=10.0, actual=0.5)
    not_json["data"]["message"]["data"] = base64.b64encode(b"budget exceeded!").decode()
    rendered["22-malformed-data-not-json.structured.json"] = not_json
    bad_threshold = budget_event(203, cost=10.0)
    body = json.loads(base64.b64decode(bad_threshold["data"]["message"]["data"]))
    body["alertThresholdExceeded"] = "ninety percent"
    bad_threshold["data"]["message"]["data"] = base64.b64encode(json.dumps(body).encode()).decode()
    rendered["23-malformed-threshold.binary.json"] = render(bad_threshold, "binary")
    for name, content in rendered.items():
        write_fixture(out / name, content)


DRIFT_JOB = {
    "model": "fraud-detector",
    "env": "dev",
    "reference": {"uri": "gs://ml-drift-dev/fraud-detector/reference/*.parquet"},
    "current": {
        "uri": "gs://ml-drift-dev/fraud-detector/current/*.parquet",
        "timestamp_column": "event_time",
        "window_hours": 24,
    },
}


def drift_pubsub(minutes: int, body: dict, schedule_time: datetime, job: str = "drift-report-fraud-detector") -> dict:
    """One job per monitored model and purpose: the run key is job + schedule time."""
    attributes = {"scheduler_job": job, "schedule_time": _iso(schedule_time)}
    return pubsub_cloud_event(
        body,
        topic="drift-report",
        attributes=attributes,
        event_id=f"{9_600_000_000_000_000 + minutes}",
        time=schedule_time + timedelta(seconds=2),
    )


def drift_http(body: object, schedule_time: datetime | None) -> dict:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Google-Cloud-Scheduler",
        "X-CloudScheduler": "true",
        "X-CloudScheduler-JobName": "drift-report-fraud-detector-http",
    }
    if schedule_time:
        headers["X-CloudScheduler-ScheduleTime"] = _iso(schedule_time)
    return {"headers": headers, "body": body}


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_drift_fixtures() -> None:
    out = EVENTS / "drift"
    if out.exists():
        shutil.rmtree(out)
    run = DRIFT_RUN_TIME
    later = {**DRIFT_JOB, "current": {**DRIFT_JOB["current"], "window_hours": 6}}
    fixtures = {
        "01-scheduled-run.structured.json": drift_pubsub(0, DRIFT_JOB, run),
        "02-scheduled-run.http.json": drift_http(later, run + timedelta(hours=6) - timedelta(hours=12)),
        "03-empty-window.structured.json": drift_pubsub(
            1, {**DRIFT_JOB, "current": {**DRIFT_JOB["current"], "end": "2027-01-01T00:00:00Z"}}, run, "drift-next-year"
        ),
        "04-missing-column.structured.json": drift_pubsub(
            2, {**DRIFT_JOB, "features": ["amount", "card_bin"]}, run, "drift-with-card-bin"
        ),
        "20-malformed-no-model.structured.json": drift_pubsub(
            3, {k: v for k, v in DRIFT_JOB.items() if k != "model"}, run
        ),
        "21-malformed-uri.http.json": drift_http(
            {**DRIFT_JOB, "reference": {"uri": "s3://elsewhere/ref.parquet"}}, run
        ),
        "22-malformed-method.structured.json": drift_pubsub(
            4,
            {**DRIFT_JOB, "methods": {"country": {"method": "wasserstein", "threshold": 0.1}}},
            run,
            "drift-bad-method",
        ),
        "23-no-such-data.structured.json": drift_pubsub(
            5,
            {**DRIFT_JOB, "reference": {"uri": "gs://ml-drift-dev/fraud-detector/nothing-here/*.parquet"}},
            run,
            "drift-no-data",
        ),
    }
    for name, content in fixtures.items():
        write_fixture(out / name, content)


def _digest(seed: str) -> str:
    """A stable, real-shaped image digest (what `docker push` prints), derived from a name."""
    import hashlib

    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def write_ecr_fixtures() -> None:
    """EventBridge events of ECR as the rollout Lambda receives them (shapes from the ECR user guide)."""
    out = EVENTS / "ecr"
    pushed = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    v120, v130, v121 = _digest("inference:1.2.0"), _digest("inference:1.3.0"), _digest("inference:1.2.1")
    untagged, batch = _digest("inference:untagged"), _digest("batch:main-3f9c2ab")

    def push(minutes: int, repository: str, digest: str, tag: str | None, **kwargs) -> dict:
        event_id = f"5b6f1c2e-0000-4000-8000-{minutes:012d}"
        return ecr_image_action_event(
            repository, digest, tag=tag, time=pushed + timedelta(minutes=minutes), event_id=event_id, **kwargs
        )

    scan = {
        "version": "0",
        "id": "85fc3613-e913-7fc4-a80c-a3753e4aa9ae",
        "detail-type": "ECR Image Scan",
        "source": "aws.ecr",
        "account": "123456789012",
        "time": "2026-11-25T14:40:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ecr:us-east-1:123456789012:repository/ml/inference"],
        "detail": {
            "scan-status": "COMPLETE",
            "repository-name": "ml/inference",
            "finding-severity-counts": {"CRITICAL": 1, "HIGH": 4},
            "image-digest": v130,
            "image-tags": ["1.3.0"],
        },
    }
    not_ecr = {**push(60, "ml/inference", v130, "1.3.0"), "source": "aws.s3", "detail-type": "Object Created"}
    no_detail = push(61, "ml/inference", v130, "1.3.0")
    del no_detail["detail"]
    fixtures = {
        "01-push-inference-1.2.0.json": push(0, "ml/inference", v120, "1.2.0"),
        "02-push-inference-1.3.0.json": push(10, "ml/inference", v130, "1.3.0"),
        "03-push-same-digest-tagged-stable.json": push(11, "ml/inference", v130, "stable"),
        "04-push-by-digest-untagged.json": push(20, "ml/inference", untagged, None),
        "05-push-inference-1.2.1-delayed.json": push(5, "ml/inference", v121, "1.2.1"),
        "06-push-batch-main.json": push(30, "ml/batch-predict", batch, "main-3f9c2ab"),
        "07-push-batch-tag-outside-policy.json": push(31, "ml/batch-predict", batch, "latest"),
        "08-push-failed.json": push(32, "ml/inference", _digest("broken"), "1.4.0", result="FAILURE"),
        "09-delete.json": push(33, "ml/inference", v120, "1.2.0", action="DELETE"),
        "10-scan-complete.json": scan,
        "11-push-unknown-repository.json": push(34, "team/unrelated", _digest("unrelated"), "2.0.0"),
        "20-malformed-digest.json": {
            **push(40, "ml/inference", v130, "1.3.0"),
            "detail": {**push(40, "ml/inference", v130, "1.3.0")["detail"], "image-digest": "sha256:7f5b2640fe6fb4"},
        },
        "21-malformed-no-detail.json": no_detail,
        "22-malformed-not-ecr.json": not_ecr,
    }
    for name, content in fixtures.items():
        write_fixture(out / name, content)


MONITORING_PROJECT = "mlops-events-prod"
MONITORING_POLICY = f"projects/{MONITORING_PROJECT}/alertPolicies/14285307693458294183"


def monitoring_incident(state: str, **changes) -> dict:
    """An incident as Cloud Monitoring's notification schema 1.2 describes it (notification-options,
    "Schema structure"): the fields of the documented sample, for a policy of ours on the inference service."""
    incident_id = changes.pop("incident_id", "0.nxs2kq4dv7te")
    closed = state == "closed"
    incident: dict = {
        "incident_id": incident_id,
        "scoping_project_id": MONITORING_PROJECT,
        "scoping_project_number": 482917365012,
        "url": f"https://console.cloud.google.com/monitoring/alerting/incidents/{incident_id}?project={MONITORING_PROJECT}",
        "started_at": 1795161600,
        "ended_at": 1795163400 if closed else None,
        "state": state,
        "resource_id": "",
        "resource_name": f"{MONITORING_PROJECT} inference",
        "resource_display_name": "inference",
        "resource_type_display_name": "Cloud Run Revision",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"project_id": MONITORING_PROJECT, "service_name": "inference", "location": "europe-west1"},
        },
        "metric": {
            "type": "run.googleapis.com/request_latencies",
            "displayName": "Request Latencies",
            "labels": {"response_code_class": "2xx"},
        },
        "metadata": {"system_labels": {}, "user_labels": {}},
        "policy_name": "inference p95 latency > 2 s",
        "policy_user_labels": {"severity": "p1", "service": "inference"},
        "condition_name": "Cloud Run Revision - Request Latencies [95TH PERCENTILE]",
        "threshold_value": "2000",
        "observed_value": "3412.500" if not closed else "1187.250",
        "condition": {
            "name": f"{MONITORING_POLICY}/conditions/14285307693458295511",
            "displayName": "Cloud Run Revision - Request Latencies [95TH PERCENTILE]",
            "conditionThreshold": {
                "filter": 'resource.type = "cloud_run_revision" AND resource.labels.service_name = "inference" '
                'AND metric.type = "run.googleapis.com/request_latencies"',
                "aggregations": [{"alignmentPeriod": "300s", "perSeriesAligner": "ALIGN_PERCENTILE_95"}],
                "comparison": "COMPARISON_GT",
                "thresholdValue": 2000,
                "duration": "300s",
                "trigger": {"count": 1},
            },
        },
        "documentation": {
            "content": "p95 latency of the inference service is above 2 s.\n\n"
            "Runbook: docs/runbooks/inference-latency.md",
            "mime_type": "text/markdown",
            "subject": "[P1] inference p95 latency > 2 s",
        },
        "summary": (
            "Request Latencies for mlops-events-prod inference with metric labels {response_code_class=2xx} "
            + (
                "returned to normal with a value of 1187.250."
                if closed
                else "is above the threshold of 2000.000 with a value of 3412.500."
            )
        ),
    }
    incident.update(changes)
    return {"incident": incident, "version": "1.2"}


def monitoring_event(minutes: int, notification: dict) -> dict:
    """The notification as the alert policies' Pub/Sub channel publishes it: the JSON, base64, in message.data."""
    return pubsub_cloud_event(
        notification,
        topic="monitoring-alerts",
        project=MONITORING_PROJECT,
        event_id=f"{9_500_000_000_000_000 + minutes}",
        time=datetime(2026, 11, 21, 10, 0, tzinfo=UTC) + timedelta(minutes=minutes),
    )


def write_monitoring_fixtures() -> None:
    out = EVENTS / "monitoring"
    if out.exists():
        shutil.rmtree(out)
    # An uptime check's incident in the shape Cloud Monitoring sent in 2020 (version 1.2 then already):
    # no scoping project, no observed or threshold value, the incident linked on app.google.stackdriver.com.
    uptime = {
        "incident_id": "0.ligwyr056k2l",
        "resource_id": "",
        "resource_name": "Uptime Check URL labels {host=inference.example.com}",
        "resource": {"type": "uptime_url", "labels": {"host": "inference.example.com"}},
        "started_at": 1795165200,
        "policy_name": "inference uptime",
        "condition_name": "Uptime Health Check on inference",
        "url": "https://app.google.stackdriver.com/incidents/0.ligwyr056k2l?project=mlops-events-prod",
        "state": "open",
        "ended_at": None,
        "summary": "An uptime check on Uptime Check URL labels {host=inference.example.com} is failing.",
    }
    uptime_closed = {
        **uptime,
        "state": "closed",
        "ended_at": 1795165800,
        "summary": "The uptime check for Uptime Check URL labels {host=inference.example.com} "
        "has returned to a normal state.",
    }
    # A newer payload: the policy's own severity field, a documentation subject, the /alerting/alerts/ URL.
    newer = monitoring_incident(
        "open",
        incident_id="0.nwg9th6llz4w",
        severity="Critical",
        policy_user_labels={"service": "functions"},
        policy_name="dead letters waiting: budget-alert-dead-letter-hold",
        condition_name="Pub/Sub Subscription - Unacked messages",
        threshold_value="0",
        observed_value="3",
        url="https://console.cloud.google.com/monitoring/alerting/alerts/0.nwg9th6llz4w"
        "?channelType=pubsub&project=mlops-events-prod",
        summary="Unacked messages for mlops-events-prod budget-alert-dead-letter-hold is above the threshold of 0.000 "
        "with a value of 3.000.",
    )
    hostile = monitoring_incident(
        "open",
        incident_id="0.hostile7x2q",
        policy_name="<!channel> ops <https://evil.example|click> & co",
        condition_name="<@U0123ABC> |x>",
        summary="look: <https://evil.example/phish|your incident> \u202eoverride <!here>",
        url="https://evil.example/monitoring/alerting/incidents/0.hostile7x2q",
        documentation={"content": "<!subteam^S0123|oncall> see <https://evil.example>", "mime_type": "text/markdown"},
        policy_user_labels={"severity": "<!channel>"},
    )
    fixtures = {
        "01-open-p1-latency.structured.json": (monitoring_event(0, monitoring_incident("open")), "structured"),
        "02-acknowledged-p1-latency.binary.json": (monitoring_event(5, monitoring_incident("acknowledged")), "binary"),
        "03-closed-p1-latency.structured.json": (monitoring_event(30, monitoring_incident("closed")), "structured"),
        "04-open-uptime-2020-shape.binary.json": (
            monitoring_event(60, {"incident": uptime, "version": "1.2"}),
            "binary",
        ),
        "05-closed-uptime-2020-shape.structured.json": (
            monitoring_event(70, {"incident": uptime_closed, "version": "1.2"}),
            "structured",
        ),
        "06-open-severity-field-and-subject.structured.json": (monitoring_event(80, newer), "structured"),
        "07-hostile-text-and-url.structured.json": (monitoring_event(90, hostile), "structured"),
        "08-other-schema-version.binary.json": (
            monitoring_event(100, {**monitoring_incident("open", incident_id="0.v11other"), "version": "1.1"}),
            "binary",
        ),
    }
    rendered = {name: render(event, mode) for name, (event, mode) in fixtures.items()}
    no_id = monitoring_incident("open")
    del no_id["incident"]["incident_id"]
    rendered["20-malformed-missing-incident-id.structured.json"] = monitoring_event(200, no_id)
    bad_state = monitoring_event(201, monitoring_incident("firing"))
    rendered["21-malformed-state.binary.json"] = render(bad_state, "binary")
    not_json = monitoring_event(202, {})
    not_json["data"]["message"]["data"] = base64.b64encode(b"incident opened!").decode()
    rendered["22-malformed-data-not-json.structured.json"] = not_json
    rendered["23-malformed-started-at.structured.json"] = monitoring_event(
        203, monitoring_incident("open", started_at="yesterday at noon")
    )
    rendered["24-malformed-no-incident.binary.json"] = render(monitoring_event(204, {"version": "1.2"}), "binary")
    for name, content in rendered.items():
        write_fixture(out / name, content)


if __name__ == "__main__":
    write_samples()
    write_drift_objects()
    write_drift_fixtures()
    write_budget_fixtures()
    write_storage_fixtures()
    write_evaluate_fixtures()
    write_scheduler_fixtures()
    write_ecr_fixtures()
    write_monitoring_fixtures()
    fixtures = [p for p in EVENTS.rglob("*.json") if OBJECTS not in p.parents]
    print(f"wrote {len(fixtures)} fixtures and {len(SAMPLES)} sample objects under {EVENTS}")
