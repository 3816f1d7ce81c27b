"""BigQueryRegistryTable against bqemulator: the registry contract plus the table's own guarantees."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.adapters.bigquery_registry import SCHEMA_PATH, BigQueryRegistryTable
from shared.adapters.firestore_registry import FirestoreRegistryStore
from shared.adapters.registry_fanout import FanOutRegistryStore
from shared.model_registry import ModelArtifact
from tests.integration.registry_contract import MakeArtifact, RegistryContract

pytestmark = pytest.mark.integration


@pytest.fixture
def table(bigquery_client: Any, bigquery_table_id: str) -> BigQueryRegistryTable:
    table = BigQueryRegistryTable(bigquery_client, bigquery_table_id, timeout_s=10)
    table.ensure_table()
    return table


class TestBigQueryRegistry(RegistryContract):
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


def test_ensure_table_creates_a_partitioned_clustered_table(
    table: BigQueryRegistryTable, bigquery_client: Any, bigquery_table_id: str
) -> None:
    # GIVEN ensure_table ran (fixture) WHEN it runs again THEN it is a no-op, and the table is as Terraform makes it
    table.ensure_table()
    created = bigquery_client.get_table(bigquery_table_id)
    assert created.time_partitioning.field == "registered_at"
    assert created.clustering_fields == ["model", "env"]
    assert {f.name: f.field_type for f in created.schema}["metadata"] == "JSON"


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


def test_a_crash_between_merge_and_supersede_heals_on_redelivery(
    table: BigQueryRegistryTable, bigquery_client: Any, bigquery_table_id: str, make_artifact: MakeArtifact
) -> None:
    # GIVEN generation 1 registered, and generation 2 inserted by a delivery that crashed before superseding
    table.record(make_artifact(generation=1))
    newer = make_artifact(generation=2)
    table.record(newer)
    bigquery_client.query(f"UPDATE `{bigquery_table_id}` SET superseded_by_generation = NULL WHERE TRUE").result()

    # WHEN the event is redelivered
    result = table.record(newer)

    # THEN nothing is inserted, and the older generation is superseded again
    assert result.created is False
    assert {r["generation"]: r["superseded_by_generation"] for r in table.artifacts("resnet")} == {1: 2, 2: None}


def test_fan_out_writes_both_and_reads_the_primary(
    table: BigQueryRegistryTable, firestore_db: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN Firestore as the primary and BigQuery as the secondary
    fan_out = FanOutRegistryStore(primary=FirestoreRegistryStore(firestore_db, "models"), secondary=table)
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
