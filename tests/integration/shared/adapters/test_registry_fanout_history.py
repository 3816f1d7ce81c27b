"""FanOutRegistryStore over Firestore and BigQuery: a registration reaches BigQuery's log as one append and
no query (the query job was the slowest step of a registration), and a repeat changes nothing a reader sees."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.bigquery_registry import BigQueryRegistryTable
from shared.adapters.firestore_registry import FirestoreRegistryStore
from shared.adapters.registry_fanout import FanOutRegistryStore
from tests.integration.conftest import firestore_rest, streaming_inserts
from tests.support.registry_contract import MakeArtifact, RecordingBigQuery

pytestmark = pytest.mark.integration


def test_a_registration_through_the_fan_out_is_one_append_and_no_query(
    bigquery_client: Any, bigquery_table_id: str, firestore_db: Any, make_artifact: MakeArtifact
) -> None:
    # GIVEN the fan-out on a BigQuery client that records every query it is asked to run
    recording = RecordingBigQuery(bigquery_client)
    statements = recording.statements
    table = BigQueryRegistryTable(
        recording, bigquery_table_id, inserts=streaming_inserts(bigquery_client), timeout_s=10
    )  # type: ignore[arg-type]
    table.ensure_table()
    fan_out = FanOutRegistryStore(
        primary=FirestoreRegistryStore(firestore_rest(firestore_db), "models"), secondary=table
    )
    artifact = make_artifact(version=1, generation=1)

    # WHEN a file is registered, then registered again (a redelivery after a failure released the claim)
    first = fan_out.record(artifact)
    statements.clear()
    again = fan_out.record(artifact)

    # THEN BigQuery was asked no query; the answers are Firestore's
    assert statements == []
    assert (first.created, first.latest_version, again.created) == (True, 1, False)
    # AND the log has the repeat's copy, which readers do not see: one row, the first registration's
    kinds = [r["kind"] for r in bigquery_client.query(f"SELECT kind FROM `{table.events_table_id}`").result()]
    assert kinds == ["registered", "registered"]
    rows = table.artifacts("resnet")
    assert [r["record_key"] for r in rows] == [artifact.record_key]
    assert fan_out.artifacts("resnet")[0]["record_key"] == artifact.record_key
