"""What `up --export-on-exit` keeps of moto's request log, and how an export replaces its folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.errors import ConfigError
from tooling.localcloud.persistence import Persistence, mutations


def entry(target: str = "", url: str = "http://127.0.0.1:5000/", body: str = "", method: str = "POST") -> str:
    headers = {"X-Amz-Target": target} if target else {}
    return json.dumps({"headers": headers, "method": method, "url": url, "body": body, "body_encoded": False})


def test_reads_are_dropped_from_moto_recording_and_writes_kept_in_order():
    lines = [
        entry("AmazonEC2ContainerRegistry_V20150921.CreateRepository"),
        entry("AmazonEC2ContainerRegistry_V20150921.DescribeImages"),  # the bridge's poll, once a second
        entry("AmazonEC2ContainerRegistry_V20150921.PutImage"),
        entry("DynamoDB_20120810.GetItem"),
        entry("DynamoDB_20120810.PutItem"),
        entry("AmazonSQS.ReceiveMessage"),
        entry(body="Action=GetParameter&Name=x"),  # the query protocol
        entry(body="Action=PutParameter&Name=x"),
        entry(url="http://127.0.0.1:5000/bucket/key", method="GET"),  # REST
        '{"headers": {"X-Amz-Target": "Dynamo',  # cut short when moto stopped
        "",
    ]
    kept = mutations(lines)
    assert kept == [lines[0], lines[2], lines[4], lines[7]]


def test_an_import_folder_that_does_not_exist_is_refused_unless_it_is_also_the_export(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such folder"):
        Persistence(tmp_path / "data", import_dir=tmp_path / "missing")
    # the first run of `--import X --export-on-exit X` starts empty
    assert (
        Persistence(tmp_path / "data", import_dir=tmp_path / "x", export_dir=tmp_path / "x").firestore_import() is None
    )


def test_an_export_replaces_the_folder_whole_and_keeps_what_up_only_did_not_run(tmp_path: Path):
    # GIVEN an earlier export holding gcs and bigquery data
    kept = tmp_path / "kept"
    (kept / "gcs" / "bucket").mkdir(parents=True)
    (kept / "gcs" / "bucket" / "old.txt").write_text("old")
    (kept / "bigquery").mkdir()
    (kept / "bigquery" / "db.duckdb").write_text("tables")
    persistence = Persistence(tmp_path / "data", import_dir=kept, export_dir=kept)
    persistence.prepare()
    # WHEN an `up --only` that ran only fake-gcs-server changed an object and stops
    (persistence.work / "gcs" / "bucket" / "old.txt").write_text("new")
    persistence.begin_export()
    summary = persistence.finish_export({"gcs"}, state_dir=tmp_path, project="p")
    # THEN the folder holds the new objects, the BigQuery data it did not run, and no staging folder is left
    assert (kept / "gcs" / "bucket" / "old.txt").read_text() == "new"
    assert (kept / "bigquery" / "db.duckdb").read_text() == "tables"
    assert summary["holds"] == ["bigquery", "gcs"]
    assert json.loads((kept / "export.json").read_text())["holds"] == ["bigquery", "gcs"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "kept"]
