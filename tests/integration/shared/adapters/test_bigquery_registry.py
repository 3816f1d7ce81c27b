"""BigQueryRegistryTable against bqemulator: the registry contract, and the log's own guarantees (appends only,
every event counted once by the views)."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.adapters.bigquery_registry import EVENTS_SCHEMA_PATH, SCHEMA_PATH, BigQueryRegistryTable
from shared.adapters.firestore_registry import FirestoreRegistryStore
from shared.adapters.registry_fanout import FanOutRegistryStore
from shared.model_registry import ModelArtifact
from tests.integration.conftest import T0, firestore_rest, streaming_inserts
from tests.support.registry_contract import AliasContract, MakeArtifact, RecordingBigQuery, RegistryContract

pytestmark = pytest.mark.integration


@pytest.fixture
def table(bigquery_client: Any, bigquery_table_id: str) -> BigQueryRegistryTable:
    table = BigQueryRegistryTable(
        bigquery_client, bigquery_table_id, inserts=streaming_inserts(bigquery_client), timeout_s=10
    )
    table.ensure_table()
    return table


class TestBigQueryRegistry(RegistryContract, AliasContract):
    @pytest.fixture
    def store(self, table: BigQueryRegistryTable) -> BigQueryRegistryTable:
        return table


def test_schema_file_has_exactly_the_row_keys(make_artifact: MakeArtifact) -> None:
    # GIVEN the schema Terraform reads WHEN compared with the row every backend stores THEN they agree
    schema = json.loads(SCHEMA_PATH.read_text())
    assert [f["name"] for f in schema] == list(make_artifact().to_row())
    assert all(f.keys() == {"name", "type", "mode", "description"} for f in schema)
    required = {f["name"] for f in schema if f["mode"] == "REQUIRED"}
    assert required == {"record_key", "env", "model", "version", "generation", "registered_at"}


def test_the_events_schema_holds_every_row_column_and_the_alias_columns(make_artifact: MakeArtifact) -> None:
    # GIVEN the events table's schema (Terraform reads it too) WHEN compared with what is appended
    events = json.loads(EVENTS_SCHEMA_PATH.read_text())
    names = [f["name"] for f in events]
    row = make_artifact().to_row()

    # THEN a registration's every column, a deletion's time and a move's fields have a column, once each;
    # superseding is derived by the view, never written
    assert len(names) == len(set(names))
    assert set(row) - set(names) == {"superseded_by_generation"}
    assert {"event_key", "kind", "event_time", "alias", "previous_version", "moved_by"} <= set(names)
    assert all(f.keys() == {"name", "type", "mode", "description"} for f in events)
    required = {f["name"] for f in events if f["mode"] == "REQUIRED"}
    assert required == {"event_key", "kind", "event_time", "env", "model"}


def test_ensure_table_creates_the_log_and_the_views(
    table: BigQueryRegistryTable, bigquery_client: Any, bigquery_table_id: str
) -> None:
    # GIVEN ensure_table ran (fixture) WHEN it runs again THEN it is a no-op
    table.ensure_table()

    # THEN the log is partitioned and clustered as Terraform makes it, and models and aliases are views
    events = bigquery_client.get_table(table.events_table_id)
    assert events.time_partitioning.field == "event_time"
    assert events.clustering_fields == ["model", "env", "kind"]
    assert {f.name: f.field_type for f in events.schema}["metadata"] == "JSON"
    assert bigquery_client.get_table(bigquery_table_id).table_type == "VIEW"
    assert bigquery_client.get_table(table.aliases_view_id).table_type == "VIEW"


def test_the_models_view_has_the_columns_of_the_merge_table(
    table: BigQueryRegistryTable, bigquery_client: Any, bigquery_table_id: str, make_artifact: MakeArtifact
) -> None:
    # GIVEN one registered row WHEN users select * from the models view
    table.record(make_artifact())
    result = bigquery_client.query(f"SELECT * FROM `{bigquery_table_id}`").result()

    # THEN they get the columns of shared/schemas/ml_registry.models.json, in its order
    assert [f.name for f in result.schema] == [f["name"] for f in json.loads(SCHEMA_PATH.read_text())]


def test_metadata_is_stored_as_json(
    table: BigQueryRegistryTable, bigquery_client: Any, bigquery_table_id: str, make_artifact: MakeArtifact
) -> None:
    # GIVEN an artifact with custom metadata
    table.record(make_artifact(metadata={"uploader": "ana", "run": "7"}))

    # WHEN the JSON column is queried with JSON functions
    rows = list(
        bigquery_client.query(f"SELECT JSON_VALUE(metadata, '$.run') AS run FROM `{bigquery_table_id}`").result()
    )

    # THEN it is real JSON, not a quoted string
    assert [r["run"] for r in rows] == ["7"]


def test_events_appended_twice_count_once(
    table: BigQueryRegistryTable, bigquery_client: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN generation 1 and 2 of a file, the second's deletion and an alias move, all recorded
    table.record(make_artifact(generation=1))
    newer = make_artifact(generation=2)
    table.record(newer)
    table.set_alias("resnet", "dev", "champion", 1, by="ana", at=T0)
    table.mark_deleted(newer.ref, T0 + timedelta(hours=1))
    before = (table.artifacts("resnet"), table.aliases("resnet"), table.alias_history("resnet"))

    # WHEN every event is in the log twice (a redelivery racing past the check; insertId de-duplication is
    # best effort, and bqemulator does none), the copies registered later
    copies = [dict(r) for r in bigquery_client.query(f"SELECT * FROM `{table.events_table_id}`").result()]
    for copy in copies:
        for name, value in copy.items():
            if isinstance(value, datetime):
                copy[name] = (value + timedelta(minutes=5)).isoformat()
        copy["metadata"] = json.dumps(copy["metadata"]) if copy["metadata"] is not None else None
    assert bigquery_client.insert_rows_json(table.events_table_id, copies) == []

    # THEN readers see exactly what they saw: the first registration, the first deletion, one move
    assert (table.artifacts("resnet"), table.aliases("resnet"), table.alias_history("resnet")) == before
    assert {r["generation"]: r["superseded_by_generation"] for r in before[0]} == {1: 2, 2: None}


def test_the_write_path_issues_no_dml(
    bigquery_client: Any, bigquery_table_id: str, make_artifact: MakeArtifact
) -> None:
    # GIVEN the adapter on a client that records every statement it is asked to run
    recording = RecordingBigQuery(bigquery_client)
    statements = recording.statements
    table = BigQueryRegistryTable(
        recording, bigquery_table_id, inserts=streaming_inserts(bigquery_client), timeout_s=10
    )  # type: ignore[arg-type]
    table.ensure_table()

    # WHEN files are registered, re-uploaded, registered again, deleted twice, and an alias moved
    for artifact in (make_artifact(version=1, generation=1), make_artifact(version=2, generation=2)):
        table.record(artifact)
        table.record(artifact)
    gone = make_artifact(version=2, path="old.bin", generation=3)
    table.record(gone)
    table.mark_deleted(gone.ref, T0)
    table.mark_deleted(gone.ref, T0)
    table.set_alias("resnet", "dev", "champion", 1, by="ana", at=T0)
    table.set_alias("resnet", "dev", "champion", 2, by="ana", at=T0 + timedelta(minutes=1))
    table.set_alias("resnet", "dev", "champion", 2, by="ana", at=T0 + timedelta(minutes=2))

    # THEN every statement was a read: no MERGE, UPDATE, DELETE or INSERT, no DDL
    assert statements
    for sql in statements:
        assert re.match(r"\s*(SELECT|WITH)\b", sql, re.IGNORECASE), sql
        assert not re.search(r"\b(MERGE|UPDATE|DELETE|INSERT|CREATE|DROP|ALTER|TRUNCATE)\b", sql, re.IGNORECASE), sql
    # AND the log holds one event per change, nothing for the repeats
    kinds = [r["kind"] for r in bigquery_client.query(f"SELECT kind FROM `{table.events_table_id}`").result()]
    assert sorted(kinds) == ["alias_moved"] * 2 + ["deleted"] + ["registered"] * 3


def test_a_burst_of_100_files_of_one_version_registers_each_once(
    table: BigQueryRegistryTable, make_artifact: MakeArtifact
) -> None:
    # GIVEN v1 registered, then 100 shard files of v2 whose events arrive together (10 delivered twice)
    table.record(make_artifact(version=1, generation=1))
    shards = [make_artifact(version=2, path=f"shard-{i:03}.safetensors", generation=1000 + i) for i in range(100)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(table.record, shards + shards[:10]))

    # THEN none failed or waited on another: each answered v2 as latest, and the models view has each file once
    assert all(r.latest_version == 2 for r in results)
    rows = table.artifacts("resnet", "dev")
    assert sorted(r["record_key"] for r in rows if r["version"] == 2) == sorted(a.record_key for a in shards)
    assert all(r["superseded_by_generation"] is None and r["deleted_at"] is None for r in rows)
    (summary,) = table.list_models("dev")
    assert (summary.latest_version, summary.versions) == (2, [1, 2])


def test_fan_out_writes_both_and_reads_the_primary(
    table: BigQueryRegistryTable, firestore_db: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN Firestore as the primary and BigQuery as the secondary
    fan_out = FanOutRegistryStore(
        primary=FirestoreRegistryStore(firestore_rest(firestore_db), "models"), secondary=table
    )
    v1: ModelArtifact = make_artifact(version=1, generation=1)
    v2: ModelArtifact = make_artifact(version=2, generation=2)

    # WHEN artifacts are recorded, one twice, and one deleted
    first = fan_out.record(v1)
    again = fan_out.record(v1)
    fan_out.record(v2)
    deleted = fan_out.mark_deleted(v2.ref, v2.registered_at)

    # THEN both backends hold the same rows, and the answers are the primary's
    assert (first.created, again.created, deleted.latest_version) == (True, False, 1)
    assert fan_out.artifacts("resnet") == table.artifacts("resnet")
    assert fan_out.known_keys("ml-models-dev") == table.known_keys("ml-models-dev") == {v1.record_key, v2.record_key}
    assert [s.as_dict() for s in fan_out.list_models()] == [s.as_dict() for s in table.list_models()]

    # AND an alias moved through it is in both, with the same actor and time; a repeat records nothing
    fan_out.record(make_artifact(version=3, generation=3))
    fan_out.set_alias("resnet", "dev", "champion", 3, by="ana", at=T0)
    fan_out.set_alias("resnet", "dev", "champion", 1, by="bob", at=T0 + timedelta(minutes=1))
    assert fan_out.set_alias("resnet", "dev", "champion", 1, by="bob", at=T0 + timedelta(minutes=2)).moved is False
    assert fan_out.aliases("resnet") == table.aliases("resnet")
    assert fan_out.alias_history("resnet") == table.alias_history("resnet")
    assert [(m.previous_version, m.version) for m in fan_out.alias_history("resnet")] == [(None, 3), (3, 1)]


def test_an_unreachable_server_is_a_transient_error(bigquery_emulator: Any, make_artifact: MakeArtifact) -> None:
    # GIVEN a client pointed at a port where nothing listens, with a short deadline
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from shared.errors import TransientError
    from tooling.localcloud.emulators import free_port

    dead = bigquery.Client(
        project="p",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{free_port()}"),
    )

    # WHEN a row is recorded THEN it fails fast as a TransientError instead of retrying for 10 minutes
    with pytest.raises(TransientError):
        BigQueryRegistryTable(dead, "p.ds.models", timeout_s=1).record(make_artifact())
