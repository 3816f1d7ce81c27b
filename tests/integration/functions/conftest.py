"""What the functions' end-to-end tests share."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.adapters.bigquery_registry import BigQueryRegistryTable
from tests.integration.conftest import PROJECT
from tooling.localcloud.slack_receiver import SlackReceiver


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    """A local Slack webhook receiver: what a function posted, read back as Slack would get it."""
    with SlackReceiver() as receiver:
        yield receiver


@pytest.fixture
def registry_on_emulators(
    monkeypatch, tmp_path, firestore_db, storage_client, bigquery_emulator, bigquery_client
) -> dict[str, Any]:
    """The emulators profile for the model registry's functions, with a fresh env (so a fresh model bucket)
    and a fresh BigQuery dataset per test: its env, bucket, dataset and registry table."""
    env = f"it{uuid.uuid4().hex[:10]}"
    dataset = f"ml_registry_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "emulators")
    monkeypatch.setenv("MLOPS_EVENTS_GCP_PROJECT", PROJECT)
    monkeypatch.setenv("MLOPS_EVENTS_BIGQUERY_ENDPOINT", bigquery_emulator.url)
    monkeypatch.setenv("MLOPS_EVENTS_BIGQUERY_DATASET", dataset)
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(tmp_path))
    table = BigQueryRegistryTable(bigquery_client, f"{PROJECT}.{dataset}.models")
    table.ensure_table()
    bucket = storage_client.create_bucket(f"ml-models-{env}")
    return {"env": env, "bucket": bucket, "dataset": dataset, "table": table}
