"""The batch prediction job on local Parquet with a really trained model: one output row per input row, in order,
bad rows kept with their reason, memory bounded by the batch, nothing half written, and the CLI on the embedded
profile with a model the registry learnt of from its upload events."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_inference import train as training
from mlops_inference.batch_job import (
    BatchInputError,
    ParquetSink,
    ParquetSource,
    main,
    rebatch,
    run_batch,
)
from mlops_inference.model import LoadedModel, load_model
from shared.adapters.local_object_store import LocalObjectStore
from shared.adapters.local_parquet_files import LocalParquetFiles
from shared.payloads.drift import DataLocation
from tooling.delivery import delivery_from_document
from tooling.fixture_factory import storage_cloud_event, storage_object_data
from tooling.manifest import function_named
from tooling.replay import Replayer

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
AT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def version_folder(tmp_path_factory):
    """The demo model, trained once for this module (small, a second or two)."""
    folder = tmp_path_factory.mktemp("fraud-detector-v7")
    training.train(folder, rows=2000, seed=7)
    return folder


@pytest.fixture(scope="module")
def model(version_folder) -> LoadedModel:
    return load_model("fraud-detector", 7, {p.name: p.read_bytes() for p in version_folder.iterdir()})


def transactions(rows: int, *, seed: int = 1, first_id: int = 0) -> pa.Table:
    columns = training.synthetic_transactions(rows, seed)
    return pa.table(
        {
            "txn_id": [f"t{first_id + i:05d}" for i in range(rows)],
            "customer_id": pa.array(range(first_id + 1000, first_id + 1000 + rows), pa.int64()),
            "event_time": pa.array(
                [T0 + timedelta(minutes=first_id + i) for i in range(rows)], pa.timestamp("us", "UTC")
            ),
            **{name: columns[name] for name in training.FEATURES},
        }
    )


def write_input(root, tables: list[pa.Table], folder: str = "data/in") -> DataLocation:
    (root / folder).mkdir(parents=True, exist_ok=True)
    for i, table in enumerate(tables):
        pq.write_table(table, root / folder / f"part-{i}.parquet", row_group_size=700)
    bucket, _, path = folder.partition("/")
    return DataLocation(bucket, f"{path}/*.parquet")


class SpySource:
    """Records the size of every batch the real source hands over."""

    def __init__(self, inner: ParquetSource) -> None:
        self._inner, self.uri, self.key_columns = inner, inner.uri, inner.key_columns
        self.sizes: list[int] = []

    def schema(self, columns):
        return self._inner.schema(columns)

    def batches(self, columns, batch_size):
        for batch in self._inner.batches(columns, batch_size):
            self.sizes.append(batch.num_rows)
            yield batch


class FailingModel:
    """The real model, except that its `fail_on`-th forward raises."""

    def __init__(self, model: LoadedModel, fail_on: int) -> None:
        self.name, self.version, self.spec = model.name, model.version, model.spec
        self._model, self._fail_on, self.calls = model, fail_on, 0

    def predict(self, rows):
        self.calls += 1
        if self.calls == self._fail_on:
            raise RuntimeError("the forward failed")
        return self._model.predict(rows)


def source(root, location, keys=("txn_id", "customer_id")) -> ParquetSource:
    return ParquetSource(LocalParquetFiles(root), location, key_columns=keys)


def files_under(folder) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_every_input_row_comes_out_once_in_order_with_the_models_prediction(tmp_path, model):
    # GIVEN 2,500 rows in two files (the first ends mid-batch) and a batch of 512
    tables = [transactions(1500), transactions(1000, seed=2, first_id=1500)]
    spy = SpySource(source(tmp_path, write_input(tmp_path, tables)))
    sink = ParquetSink.local(tmp_path / "out" / "predictions.parquet")

    report = run_batch(model, spy, sink, batch_size=512, clock=lambda: AT)

    out = pq.read_table(tmp_path / "out" / "predictions.parquet")
    expected_input = pa.concat_tables(tables)
    keys, outputs = ["txn_id", "customer_id"], ["fraud_probability", "model", "model_version", "predicted_at", "error"]
    assert out.column_names == keys + outputs
    assert out.column("txn_id").to_pylist() == expected_input.column("txn_id").to_pylist()
    assert out.schema.field("customer_id").type == pa.int64()
    assert out.column("customer_id").to_pylist() == expected_input.column("customer_id").to_pylist()
    rows = training.feature_rows({name: expected_input.column(name).to_numpy() for name in training.FEATURES})
    assert out.column("fraud_probability").to_pylist() == pytest.approx(model.predict(rows), abs=1e-6)
    assert set(out.column("model").to_pylist()) == {"fraud-detector"}
    assert set(out.column("model_version").to_pylist()) == {7}
    assert set(out.column("predicted_at").to_pylist()) == {AT}
    assert out.column("error").null_count == 2500
    assert (report.rows_read, report.rows_written, report.rows_invalid) == (2500, 2500, 0)
    assert report.batches == math.ceil(2500 / 512) == 5
    assert (report.model, report.model_version, report.predicted_at) == ("fraud-detector", 7, AT)
    assert report.output == str(tmp_path / "out" / "predictions.parquet")


def test_memory_is_bounded_by_the_batch_the_source_streams_and_the_sink_writes_through(tmp_path, model):
    # GIVEN files whose row groups (700) are larger than the batch (256)
    tables = [transactions(1500), transactions(1000, seed=2, first_id=1500)]
    spy = SpySource(source(tmp_path, write_input(tmp_path, tables)))
    sink = ParquetSink.local(tmp_path / "out.parquet")

    report = run_batch(model, spy, sink, batch_size=256)

    # THEN the source never handed over more than a batch, whatever the row groups
    assert max(spy.sizes) <= 256 and sum(spy.sizes) == 2500
    # AND the sink got one row group per batch: each batch was written out before the next was read
    metadata = pq.ParquetFile(tmp_path / "out.parquet").metadata
    groups = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert groups == [256] * 9 + [2500 - 9 * 256]
    assert sink.row_groups == report.batches == math.ceil(2500 / 256)


def test_rows_the_model_cannot_take_come_out_with_their_reason_and_no_prediction(tmp_path, model):
    table = transactions(10)
    bad = {
        2: ("amount", None),
        4: ("merchant_risk", float("nan")),
        5: ("amount", float("-inf")),
        7: ("country", None),
        8: ("hour", None),
    }
    for row, (name, value) in bad.items():
        values = table.column(name).to_pylist()
        values[row] = value
        table = table.set_column(
            table.schema.get_field_index(name), name, pa.array(values, table.schema.field(name).type)
        )
    location = write_input(tmp_path, [table])

    report = run_batch(model, source(tmp_path, location), ParquetSink.local(tmp_path / "out.parquet"), batch_size=4)

    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [row["txn_id"] for row in out] == table.column("txn_id").to_pylist()
    assert {i: row["error"] for i, row in enumerate(out) if row["error"]} == {
        2: "amount: is missing",
        4: "merchant_risk: must be finite (no NaN, no inf)",
        5: "amount: must be finite (no NaN, no inf)",
        7: "country: is missing",
        8: "hour: is missing",
    }
    assert all((row["fraud_probability"] is None) == (i in bad) for i, row in enumerate(out))
    good = [i for i in range(10) if i not in bad]
    rows = training.feature_rows(
        {name: table.column(name).to_numpy(zero_copy_only=False) for name in training.FEATURES}
    )
    expected = model.predict([rows[i] for i in good])
    assert [out[i]["fraud_probability"] for i in good] == pytest.approx(expected, abs=1e-6)
    assert (report.rows_read, report.rows_written, report.rows_invalid, report.batches) == (10, 10, 5, 3)


@pytest.mark.parametrize("fail_in", ["model", "sink"])
def test_a_run_failing_on_the_third_batch_leaves_no_file(tmp_path, model, fail_in):
    location = write_input(tmp_path, [transactions(1000)])
    sink = ParquetSink.local(tmp_path / "out" / "predictions.parquet")
    scorer = FailingModel(model, fail_on=3) if fail_in == "model" else model
    if fail_in == "sink":
        writes = []
        real_write = sink.write

        def write(batch):
            writes.append(batch.num_rows)
            if len(writes) == 3:
                raise OSError("disk full")
            real_write(batch)

        sink.write = write

    with pytest.raises((RuntimeError, OSError)):
        run_batch(scorer, source(tmp_path, location), sink, batch_size=100)

    assert files_under(tmp_path / "out") == []  # neither the file nor its temporary


def test_a_failed_rerun_leaves_the_previous_file_as_it_was(tmp_path, model):
    location = write_input(tmp_path, [transactions(300)])
    target = tmp_path / "out" / "predictions.parquet"
    run_batch(model, source(tmp_path, location), ParquetSink.local(target), batch_size=100)
    before = target.read_bytes()

    with pytest.raises(RuntimeError):
        run_batch(FailingModel(model, 2), source(tmp_path, location), ParquetSink.local(target), batch_size=100)

    assert target.read_bytes() == before
    assert files_under(tmp_path / "out") == ["predictions.parquet"]


def test_a_time_window_keeps_only_its_rows(tmp_path, model):
    location = write_input(tmp_path, [transactions(600)])
    start, end = T0 + timedelta(minutes=100), T0 + timedelta(minutes=350)
    windowed = DataLocation(location.bucket, location.path, "event_time", start, end)

    report = run_batch(model, source(tmp_path, windowed), ParquetSink.local(tmp_path / "out.parquet"), batch_size=64)

    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column("txn_id").to_pylist() == [f"t{i:05d}" for i in range(100, 350)]
    assert "event_time" not in out.column_names  # read for the window, not passed through
    assert (report.rows_read, report.batches) == (250, math.ceil(250 / 64))


def test_a_missing_column_fails_before_anything_is_written(tmp_path, model):
    location = write_input(tmp_path, [transactions(50).drop_columns(["device"])])

    with pytest.raises(BatchInputError, match="no column 'device'"):
        run_batch(model, source(tmp_path, location), ParquetSink.local(tmp_path / "out" / "p.parquet"))

    assert files_under(tmp_path / "out") == []


def test_a_missing_key_column_is_named(tmp_path, model):
    location = write_input(tmp_path, [transactions(50)])

    with pytest.raises(BatchInputError, match="no column 'order_id'"):
        run_batch(model, source(tmp_path, location, keys=["order_id"]), ParquetSink.local(tmp_path / "p.parquet"))


def test_a_column_of_the_wrong_type_is_named(tmp_path, model):
    table = transactions(50)
    table = table.set_column(table.schema.get_field_index("country"), "country", pa.array(range(50), pa.int64()))
    location = write_input(tmp_path, [table])

    with pytest.raises(BatchInputError, match="column 'country' is int64, the model wants a string"):
        run_batch(model, source(tmp_path, location), ParquetSink.local(tmp_path / "p.parquet"))


def test_rebatch_cuts_exact_batches_in_order():
    sizes = [3, 7, 1, 10, 2]
    start = [sum(sizes[:i]) for i in range(len(sizes))]
    incoming = [pa.record_batch({"i": list(range(s, s + n))}) for s, n in zip(start, sizes, strict=True)]

    out = list(rebatch(iter(incoming), 4))

    assert [b.num_rows for b in out] == [4, 4, 4, 4, 4, 3]
    assert [v for b in out for v in b.column("i").to_pylist()] == list(range(23))


# -- the CLI on the embedded profile ---------------------------------------------------------------
@pytest.fixture
def embedded(tmp_path, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state))
    monkeypatch.delenv("MLOPS_EVENTS_LOCAL_BUCKETS_DIR", raising=False)
    return state


def register(state, version_folder, *, model: str = "fraud-detector", version: int = 7) -> None:
    """Upload the two files to the local model bucket, then deliver their finalize events to register_model."""
    store = LocalObjectStore(state / "buckets")
    replayer, spec = Replayer(), function_named("register_model")
    for path in sorted(version_folder.iterdir()):
        content = path.read_bytes()
        name = f"{model}/v{version}/{path.name}"
        stored = store.put("ml-models-dev", name, content, content_type="application/octet-stream")
        data = storage_object_data(
            "ml-models-dev", name, generation=stored.generation, content=content, time_created=stored.time_created
        )
        event = storage_cloud_event("google.cloud.storage.object.v1.finalized", data)
        result = replayer.deliver(spec, delivery_from_document(event), label=name)
        assert result.outcome == "applied", result.detail


def cli(*extra: str) -> list[str]:
    return ["--model", "fraud-detector", "--env", "dev", *extra]


def test_the_cli_predicts_with_the_registered_model(embedded, version_folder, model, capsys):
    register(embedded, version_folder)
    write_input(embedded / "buckets", [transactions(900)], folder="ml-data-dev/transactions")
    args = cli(
        "--input", "gs://ml-data-dev/transactions/*.parquet",
        "--output", "gs://ml-predictions-dev/fraud-detector/",
        "--key-column", "txn_id", "--batch-size", "256",
    )  # fmt: skip
    capsys.readouterr()  # register_model's logs

    assert main(args) == 0

    report = json.loads(capsys.readouterr().out)
    [written] = files_under(embedded / "buckets" / "ml-predictions-dev")
    assert written == f"fraud-detector/fraud-detector-v7-{report['job_key']}.parquet"
    assert (report["model"], report["model_version"], report["rows_written"], report["batches"]) == (
        "fraud-detector", 7, 900, 4,
    )  # fmt: skip
    out = pq.read_table(embedded / "buckets" / "ml-predictions-dev" / written)
    assert out.column_names[:2] == ["txn_id", "fraud_probability"]
    rows = training.feature_rows(training.synthetic_transactions(900, 1))
    assert out.column("fraud_probability").to_pylist() == pytest.approx(model.predict(rows), abs=1e-6)

    # AND a rerun of the same job replaces its file rather than adding a second one
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["job_key"] == report["job_key"]
    assert files_under(embedded / "buckets" / "ml-predictions-dev") == [written]


def test_the_cli_exits_2_without_a_registered_model(embedded, capsys):
    assert main(cli("--input", "gs://ml-data-dev/t/*.parquet", "--output", "gs://ml-predictions-dev/p/")) == 2
    assert "no live version of 'fraud-detector' in env 'dev'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "s3://b/x.parquet", "--output", "gs://b/p/"], "expected gs://bucket/path"),
        (["--input", "gs://b/x.parquet", "--output", "bq://not-a-table"], "expected bq://project.dataset.table"),
        (["--input", "gs://b/x.parquet", "--output", "gs://b/p/", "--batch-size", "0"], "--batch-size must be"),
        (["--input", "gs://b/x.parquet", "--output", "gs://b/p/", "--start", "2026-01-01"], "need --timestamp-column"),
        (["--input", "gs://b/x.parquet", "--output", "bq://p.d.t"], "bq:// needs the emulators or cloud profile"),
    ],
    ids=["scheme", "table", "batch-size", "window", "embedded-bigquery"],
)
def test_the_cli_exits_2_on_bad_arguments(embedded, version_folder, capsys, args, message):
    register(embedded, version_folder)
    assert main(cli(*args)) == 2
    assert message in capsys.readouterr().err


def test_the_cli_exits_1_when_the_run_fails(embedded, version_folder, capsys):
    register(embedded, version_folder)
    write_input(embedded / "buckets", [transactions(20).drop_columns(["amount"])], folder="ml-data-dev/t")

    assert main(cli("--input", "gs://ml-data-dev/t/*.parquet", "--output", "gs://ml-predictions-dev/p/")) == 1

    assert "no column 'amount'" in capsys.readouterr().err
    assert files_under(embedded / "buckets" / "ml-predictions-dev") == []


def test_the_cli_scores_with_the_version_or_the_alias_it_is_given(embedded, version_folder, capsys):
    # GIVEN v7 and v8 registered, and champion pointing at v7
    register(embedded, version_folder, version=7)
    register(embedded, version_folder, version=8)
    from datetime import UTC, datetime

    from shared.adapters.sqlite_registry import SqliteRegistryStore

    registry = SqliteRegistryStore(embedded / "registry.sqlite")
    registry.set_alias("fraud-detector", "dev", "champion", 7, by="tests", at=datetime.now(UTC))
    write_input(embedded / "buckets", [transactions(50)], folder="ml-data-dev/t")
    io = ("--input", "gs://ml-data-dev/t/*.parquet", "--output", "gs://ml-predictions-dev/p/")
    capsys.readouterr()

    def scored_with(*which: str) -> int:
        assert main(cli(*io, *which)) == 0
        return json.loads(capsys.readouterr().out)["model_version"]

    # THEN the latest by default, the pinned version, the alias's version
    assert scored_with() == 8
    assert scored_with("--version", "7") == 7 and scored_with("--version", "v8") == 8
    assert scored_with("--alias", "champion") == 7


@pytest.mark.parametrize(
    ("which", "message"),
    [
        (("--version", "99"), "no live version v99 of 'fraud-detector' in env 'dev'"),
        (("--alias", "candidate"), "alias 'candidate' of 'fraud-detector' in env 'dev' points to no live version"),
        (("--alias", "latest"), "--alias: alias 'latest' is reserved"),
        (("--version", "seven"), "is not a version"),
        (("--version", "7", "--alias", "champion"), "not allowed with argument"),
    ],
)
def test_the_cli_exits_2_for_a_version_or_alias_that_is_not_there(embedded, version_folder, capsys, which, message):
    register(embedded, version_folder, version=7)
    capsys.readouterr()
    assert main(cli("--input", "gs://ml-data-dev/t/*.parquet", "--output", "gs://ml-predictions-dev/p/", *which)) == 2
    assert message in capsys.readouterr().err
