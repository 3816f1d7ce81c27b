"""The batch job against real backends: a BigQuery table (with a time window) into a BigQuery table on bqemulator,
and Parquet objects into a Parquet object on fake-gcs-server (the GCS sink's temporary object and rewrite)."""

from __future__ import annotations

import io
import math
import uuid
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_inference import train as training
from mlops_inference.batch_job import BigQuerySink, BigQuerySource, ParquetSink, ParquetSource, run_batch
from mlops_inference.model import LoadedModel, load_model
from shared.adapters.gcs_parquet_files import GcsParquetFiles
from shared.payloads.drift import DataLocation
from tests.integration.conftest import PROJECT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning"),
]
T0 = datetime(2026, 3, 1, tzinfo=UTC)
AT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
ROWS = 300
BAD_ROW = 60  # its amount is NULL


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> LoadedModel:
    folder = tmp_path_factory.mktemp("fraud-detector-v3")
    training.train(folder, rows=1500, seed=7)
    return load_model("fraud-detector", 3, {p.name: p.read_bytes() for p in folder.iterdir()})


def transaction_rows(rows: int = ROWS) -> list[dict]:
    features = training.feature_rows(training.synthetic_transactions(rows, seed=4))
    out = []
    for i, row in enumerate(features):
        record = {"txn_id": f"t{i:04d}", "customer_id": 5000 + i, "event_time": T0 + timedelta(minutes=i), **row}
        if i == BAD_ROW:
            record["amount"] = None
        out.append(record)
    return out


def calls() -> dict:
    from google.cloud import bigquery

    return {"retry": bigquery.DEFAULT_RETRY.with_deadline(10), "timeout": 10}


@pytest.fixture
def input_table(bigquery_client) -> tuple[str, list[dict]]:
    from google.cloud import bigquery

    dataset = f"{PROJECT}.batch_{uuid.uuid4().hex[:10]}"
    bigquery_client.create_dataset(dataset, **calls())
    schema = [
        bigquery.SchemaField("txn_id", "STRING"),
        bigquery.SchemaField("customer_id", "INT64"),
        bigquery.SchemaField("event_time", "TIMESTAMP"),
        bigquery.SchemaField("amount", "FLOAT64"),
        bigquery.SchemaField("merchant_risk", "FLOAT64"),
        bigquery.SchemaField("hour", "INT64"),
        bigquery.SchemaField("country", "STRING"),
        bigquery.SchemaField("device", "STRING"),
    ]
    table_id = f"{dataset}.transactions"
    bigquery_client.create_table(bigquery.Table(table_id, schema=schema), **calls())
    rows = transaction_rows()
    payload = [{**row, "event_time": row["event_time"].isoformat()} for row in rows]
    assert bigquery_client.insert_rows_json(table_id, payload, **calls()) == []
    return table_id, rows


def output_rows(bigquery_client, table_id: str) -> list[dict]:
    sql = f"SELECT * FROM `{table_id}` ORDER BY txn_id"
    return [dict(row) for row in bigquery_client.query(sql, **calls()).result(**calls())]


def test_a_windowed_table_is_predicted_into_a_new_table(bigquery_client, model, input_table):
    # GIVEN 300 transactions, one a minute; the window holds minutes 50..249 (the bad row 60 among them)
    table_id, rows = input_table
    start, end = T0 + timedelta(minutes=50), T0 + timedelta(minutes=250)
    source = BigQuerySource(
        bigquery_client, table_id, key_columns=["txn_id", "customer_id"], timestamp_column="event_time",
        start=start, end=end, timeout_s=10,
    )  # fmt: skip
    out_table = table_id.rsplit(".", 1)[0] + ".fraud_predictions"  # created by the sink
    sink = BigQuerySink(bigquery_client, out_table, run_id="it-run", timeout_s=10)

    # WHEN the job runs in batches of 64
    report = run_batch(model, source, sink, batch_size=64, clock=lambda: AT)

    # THEN every row of the window has one prediction row, with its keys, and nothing outside the window
    out = output_rows(bigquery_client, out_table)
    wanted = rows[50:250]
    assert [row["txn_id"] for row in out] == [row["txn_id"] for row in wanted]
    assert [row["customer_id"] for row in out] == [row["customer_id"] for row in wanted]
    assert (report.rows_read, report.rows_written, report.rows_invalid) == (200, 200, 1)
    assert report.batches == math.ceil(200 / 64)
    # AND the predictions are the model's on the same rows; the bad row has a reason instead
    good = [row for row in wanted if row["txn_id"] != f"t{BAD_ROW:04d}"]
    features = [{name: row[name] for name in training.FEATURES} for row in good]
    predicted = {row["txn_id"]: row["fraud_probability"] for row in out if row["error"] is None}
    assert [predicted[row["txn_id"]] for row in good] == pytest.approx(
        model.predict(features), abs=1e-6
    )  # float32, batched differently
    [bad] = [row for row in out if row["error"] is not None]
    assert (bad["txn_id"], bad["fraud_probability"], bad["error"]) == (f"t{BAD_ROW:04d}", None, "amount: is missing")
    assert {(row["model"], row["model_version"], row["predicted_at"]) for row in out} == {("fraud-detector", 3, AT)}
    table = bigquery_client.get_table(out_table, **calls())
    standard = {"INTEGER": "INT64", "FLOAT": "FLOAT64"}  # BigQuery answers with the legacy names, bqemulator not
    assert {f.name: standard.get(f.field_type, f.field_type) for f in table.schema} == {
        "txn_id": "STRING",
        "customer_id": "INT64",
        "fraud_probability": "FLOAT64",
        "model": "STRING",
        "model_version": "INT64",
        "predicted_at": "TIMESTAMP",
        "error": "STRING",
    }


def test_a_whole_table_is_paged_without_a_query(bigquery_client, model, input_table):
    table_id, rows = input_table
    source = BigQuerySource(bigquery_client, table_id, key_columns=["txn_id"], timeout_s=10)
    out_table = table_id.rsplit(".", 1)[0] + ".all_predictions"

    report = run_batch(model, source, BigQuerySink(bigquery_client, out_table, timeout_s=10), batch_size=128)

    out = output_rows(bigquery_client, out_table)
    assert sorted(row["txn_id"] for row in out) == [row["txn_id"] for row in rows]
    assert (report.rows_written, report.rows_invalid, report.batches) == (ROWS, 1, math.ceil(ROWS / 128))


# -- GCS (fake-gcs-server) -----------------------------------------------------------------------
def upload_parquet(storage_client, bucket: str, name: str, rows: list[dict]) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    storage_client.bucket(bucket).blob(name).upload_from_string(buffer.getvalue())


def test_parquet_in_gcs_is_predicted_into_one_object(storage_client, bucket, model):
    rows = [row for row in transaction_rows() if row["amount"] is not None]
    upload_parquet(storage_client, bucket, "in/part-0.parquet", rows[:150])
    upload_parquet(storage_client, bucket, "in/part-1.parquet", rows[150:])
    source = ParquetSource(
        GcsParquetFiles(storage_client), DataLocation(bucket, "in/*.parquet"), key_columns=["txn_id"]
    )
    sink = ParquetSink.gcs(storage_client, bucket, "out/predictions.parquet")

    report = run_batch(model, source, sink, batch_size=100)

    assert [blob.name for blob in storage_client.list_blobs(bucket, prefix="out/")] == ["out/predictions.parquet"]
    data = storage_client.bucket(bucket).blob("out/predictions.parquet").download_as_bytes()
    out = pq.read_table(io.BytesIO(data))
    assert out.column("txn_id").to_pylist() == [row["txn_id"] for row in rows]
    features = [{name: row[name] for name in training.FEATURES} for row in rows]
    assert out.column("fraud_probability").to_pylist() == pytest.approx(model.predict(features), abs=1e-6)
    assert pq.ParquetFile(io.BytesIO(data)).metadata.num_row_groups == report.batches == math.ceil(len(rows) / 100)
    assert report.output == f"gs://{bucket}/out/predictions.parquet"


def test_a_failed_run_leaves_no_object_in_gcs(storage_client, bucket, model):
    upload_parquet(storage_client, bucket, "in/part-0.parquet", transaction_rows()[:250])
    source = ParquetSource(GcsParquetFiles(storage_client), DataLocation(bucket, "in/*.parquet"))
    sink = ParquetSink.gcs(storage_client, bucket, "out/predictions.parquet")
    real_write, writes = sink.write, []

    def write(batch):
        writes.append(batch.num_rows)
        if len(writes) == 3:
            raise OSError("lost the connection")
        real_write(batch)

    sink.write = write
    with pytest.raises(OSError, match="lost the connection"):
        run_batch(model, source, sink, batch_size=50)

    assert list(storage_client.list_blobs(bucket, prefix="out/")) == []


def test_tasks_split_a_table_by_the_hash_of_its_key_and_score_every_row_once(bigquery_client, model, input_table):
    # GIVEN 300 transactions and a job of three tasks, each told only its index and the count
    from mlops_inference.batch_job import Shard

    table_id, rows = input_table
    out_table = table_id.rsplit(".", 1)[0] + ".sharded_predictions"
    reports = []
    for index in range(3):
        source = BigQuerySource(
            bigquery_client, table_id, key_columns=["txn_id", "customer_id"], timeout_s=10, shard=Shard(index, 3)
        )
        sink = BigQuerySink(bigquery_client, out_table, run_id=f"it-shard-{index}", timeout_s=10)
        # WHEN each task runs on its own share (FARM_FINGERPRINT of the keys, modulo 3)
        reports.append(run_batch(model, source, sink, batch_size=64))

    # THEN every row was scored exactly once between them, and each task had a share
    out = output_rows(bigquery_client, out_table)
    assert [row["txn_id"] for row in out] == [row["txn_id"] for row in rows]
    assert sum(r.rows_written for r in reports) == ROWS
    assert all(r.rows_written > 0 for r in reports)
