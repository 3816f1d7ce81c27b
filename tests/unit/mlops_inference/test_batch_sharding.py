"""The batch job scaled out as Cloud Run runs it: n tasks, each told only CLOUD_RUN_TASK_INDEX and
CLOUD_RUN_TASK_COUNT, started here as n real processes on one input. Between them every row (every image
file) is scored exactly once, each task writes its own part, and the split itself is a partition."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops_inference import train as training
from mlops_inference.batch_images import ImageFiles, run_image_batch
from mlops_inference.batch_job import ParquetSink, ParquetSource, Shard, output_object, run_batch, shard_range
from mlops_inference.batch_rows import UsageError
from mlops_inference.batch_sources import BigQuerySource, shard_expression
from mlops_inference.image_decode import DecodeLimits, decode
from mlops_inference.image_spec import ImageSpec
from mlops_inference.model import load_model
from shared.adapters.local_parquet_files import LocalParquetFiles
from tests.support import image_models as im
from tests.unit.mlops_inference.test_batch_job import register, transactions, write_input

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
REPO = Path(__file__).resolve().parents[3]


# -- the split ---------------------------------------------------------------------------------------------
@given(total=st.integers(0, 5000), count=st.integers(1, 300))
def test_the_split_is_a_partition_in_order_balanced_within_one(total, count):
    ranges = [shard_range(total, index, count) for index in range(count)]

    assert [i for r in ranges for i in r] == list(range(total))  # complete, disjoint, in order
    sizes = [len(r) for r in ranges]
    assert max(sizes) - min(sizes) <= 1


@given(items=st.lists(st.integers(), max_size=200), count=st.integers(1, 50))
def test_every_item_goes_to_exactly_one_task(items, count):
    shares = [Shard(index, count).take(items) for index in range(count)]
    assert [x for share in shares for x in share] == items


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLOUD_RUN_TASK_INDEX": "3", "CLOUD_RUN_TASK_COUNT": "3"}, "CLOUD_RUN_TASK_INDEX must be 0 to 2"),
        ({"CLOUD_RUN_TASK_INDEX": "x"}, "must be an integer"),
        ({"CLOUD_RUN_TASK_COUNT": "0"}, "CLOUD_RUN_TASK_COUNT must be 1 to 10000"),
    ],
)
def test_a_task_cloud_run_would_not_start_is_refused(env, message):
    with pytest.raises(UsageError, match=message):
        Shard.from_env(env)


def test_one_task_by_default_and_its_output_keeps_its_name():
    assert Shard.from_env({}) == Shard(0, 1)
    assert output_object("p/", "m", 2, "abc", Shard()) == "p/m-v2-abc.parquet"
    assert output_object("p/", "m", 2, "abc", Shard(3, 8)) == "p/m-v2-abc-part-00003-of-00008.parquet"
    assert output_object("p/out.parquet", "m", 2, "abc", Shard(0, 2)) == "p/out-part-00000-of-00002.parquet"


def test_a_bigquery_input_goes_by_the_hash_of_its_key():
    assert shard_expression(["txn_id", "day"], 4) == (
        "ABS(MOD(FARM_FINGERPRINT(TO_JSON_STRING(STRUCT(`txn_id`, `day`))), 4))"
    )
    with pytest.raises(UsageError, match="needs --key-column"):
        BigQuerySource(object(), "p.d.t", shard=Shard(0, 2))


# -- Parquet, in process: row groups --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fraud-detector-v7")
    training.train(folder, rows=2000, seed=7)
    return folder, load_model("fraud-detector", 7, {p.name: p.read_bytes() for p in folder.iterdir()})


@pytest.mark.parametrize("count", [1, 2, 5, 40])
def test_row_groups_split_among_tasks_score_every_row_once(tmp_path, tabular, count):
    _, model = tabular
    tables = [transactions(n, seed=s, first_id=1000 * s) for s, n in ((1, 900), (2, 50), (3, 1500))]
    location = write_input(tmp_path, tables)  # row groups of 700: 2 + 1 + 3
    ids = []
    for index in range(count):
        source = ParquetSource(LocalParquetFiles(tmp_path), location, key_columns=["txn_id"], shard=Shard(index, count))
        sink = ParquetSink.local(tmp_path / "out" / f"part-{index}.parquet")
        report = run_batch(model, source, sink, batch_size=256)
        part = pq.read_table(report.output)
        ids += part.column("txn_id").to_pylist()
    assert sorted(ids) == sorted(pa.concat_tables(tables).column("txn_id").to_pylist())
    assert len(set(ids)) == len(ids) == 2450


# -- n processes, as Cloud Run starts them --------------------------------------------------------------------
@pytest.fixture
def embedded(tmp_path, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state))
    monkeypatch.delenv("MLOPS_EVENTS_LOCAL_BUCKETS_DIR", raising=False)
    return state


def run_tasks(count: int, args: list[str]) -> list[dict]:
    """`count` job processes at once, each with only its task index and the count to tell it apart."""
    python_path = os.pathsep.join([str(REPO), str(REPO / "containers" / "inference"), os.environ.get("PYTHONPATH", "")])
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "mlops_inference.batch_job", *args],
            env={
                **os.environ,
                "PYTHONPATH": python_path,
                "CLOUD_RUN_TASK_INDEX": str(index),
                "CLOUD_RUN_TASK_COUNT": str(count),
                "OMP_NUM_THREADS": "1",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(count)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-2000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def parts_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_three_tasks_score_every_row_of_one_input_exactly_once(embedded, tabular):
    version_folder, model = tabular
    register(embedded, version_folder)
    tables = [transactions(n, seed=s, first_id=1000 * s) for s, n in ((1, 900), (2, 50), (3, 1500))]
    write_input(embedded / "buckets", tables, folder="ml-data-dev/transactions")

    reports = run_tasks(
        3,
        [
            "--model", "fraud-detector", "--env", "dev",
            "--input", "gs://ml-data-dev/transactions/*.parquet",
            "--output", "gs://ml-predictions-dev/fraud-detector/",
            "--key-column", "txn_id", "--batch-size", "256",
        ],
    )  # fmt: skip

    assert sorted(r["task_index"] for r in reports) == [0, 1, 2]
    assert len({r["job_key"] for r in reports}) == 1  # one job, three parts of it
    parts = parts_under(embedded / "buckets" / "ml-predictions-dev")
    key = reports[0]["job_key"]
    assert [p.name for p in parts] == [f"fraud-detector-v7-{key}-part-0000{i}-of-00003.parquet" for i in range(3)]
    out = pa.concat_tables(pq.read_table(p) for p in parts)
    everything = pa.concat_tables(tables)
    assert sorted(out.column("txn_id").to_pylist()) == sorted(everything.column("txn_id").to_pylist())
    assert out.num_rows == len(set(out.column("txn_id").to_pylist())) == 2450
    assert sum(r["rows_written"] for r in reports) == 2450
    # each row's prediction is the model's for that row, whichever task scored it
    expected = dict(
        zip(
            everything.column("txn_id").to_pylist(),
            model.predict(everything.select(training.FEATURES).to_pylist()),
            strict=True,
        )
    )
    for txn, score in zip(out.column("txn_id").to_pylist(), out.column("fraud_probability").to_pylist(), strict=True):
        assert score == pytest.approx(expected[txn], abs=1e-6)


# -- image files ----------------------------------------------------------------------------------------------
def image_files() -> dict[str, bytes]:
    files = {f"scans/png-{v:03d}.png": im.png(im.grey(v)) for v in (10, 60, 120, 200, 250)}
    files |= {f"scans/ct-{i}.dcm": im.dicom(im.ct_slice(i % 2 == 1)) for i in range(4)}
    files["scans/jpeg-1.jpg"] = im.jpeg(im.grey(180))
    files["scans/broken.png"] = im.png(im.grey(90))[:60]
    files["scans/notes.txt"] = b"not an image"
    return files


def test_three_tasks_score_every_image_file_exactly_once_as_the_service_would(embedded):
    files = im.model_files("binary", size=16, window={"center": 40, "width": 400})
    im.register(embedded, "ct-tiny", 1, files)
    model = load_model("ct-tiny", 1, files)
    inputs = image_files()
    for name, data in inputs.items():
        path = embedded / "buckets" / "ml-scans-dev" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    reports = run_tasks(
        3,
        [
            "--model", "ct-tiny", "--env", "dev",
            "--input", "gs://ml-scans-dev/scans/", "--output", "gs://ml-predictions-dev/ct/", "--batch-size", "2",
        ],
    )  # fmt: skip

    parts = parts_under(embedded / "buckets" / "ml-predictions-dev")
    assert len(parts) == 3 and all(p.name.endswith("-of-00003.parquet") for p in parts)
    out = pa.concat_tables(pq.read_table(p) for p in parts).to_pylist()
    assert sorted(row["file"] for row in out) == sorted(f"gs://ml-scans-dev/{name}" for name in inputs)
    assert sum(r["rows_written"] for r in reports) == len(out) == len(inputs) == 12
    by_file = {row["file"].removeprefix("gs://ml-scans-dev/"): row for row in out}
    limits = DecodeLimits(16 << 20, 4096 * 4096)
    assert isinstance(model.spec, ImageSpec)
    for name, data in inputs.items():
        row = by_file[name]
        if name.endswith(("broken.png", "notes.txt")):
            assert row["label"] is None and row["error"].startswith(("undecodable", "unsupported_type"))
            continue
        [expected] = model.predict_images([decode(data, model.spec.input, limits)])
        assert (row["label"], row["error"]) == (expected.label, None)
        assert row["confidence"] == pytest.approx(expected.confidence, abs=1e-6)
        assert json.loads(row["probabilities"]) == pytest.approx(expected.probabilities, abs=1e-6)
    assert sum(r["rows_invalid"] for r in reports) == 2


@pytest.mark.parametrize("count", [1, 4, 20])
def test_a_local_folder_of_images_split_among_tasks(tmp_path, count):
    files = im.model_files("segmentation", size=16, window={"center": 40, "width": 400})
    model = load_model("ct-seg", 1, files)
    folder = tmp_path / "in"
    for i in range(7):
        (folder / "sub").mkdir(parents=True, exist_ok=True)
        (folder / "sub" / f"slice-{i}.dcm").write_bytes(im.dicom(im.ct_slice(i % 2 == 0)))
    seen = []
    for index in range(count):
        source = ImageFiles(folder=folder, shard=Shard(index, count))
        report = run_image_batch(model, source, ParquetSink.local(tmp_path / "out" / f"{index}.parquet"), batch_size=3)
        rows = pq.read_table(report.output).to_pylist()
        seen += [row["file"] for row in rows]
        assert all(row["label"] in ("background", "lesion") and json.loads(row["areas"]) for row in rows)
    assert sorted(seen) == sorted(str(folder / "sub" / f"slice-{i}.dcm") for i in range(7))
    assert len(set(seen)) == 7
