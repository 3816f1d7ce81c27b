"""Model archives told by their central directory on fake-gcs-server (issue 19): the ranged reads of the
tail through the real GCS client, and register_model delivered through functions-framework as the
registry tests deliver it, with real files written by torch (TorchScript, .pt2; small and large)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.artifact_format import HEAD_BYTES, detect_stored_format
from tests.integration.conftest import gcs_store
from tests.integration.functions.test_register_model_on_emulators import bigquery_rows, profile, upload_event  # noqa: F401
from tests.support import model_archives as archives
from tooling.delivery import delivery_from_document
from tooling.manifest import function_named
from tooling.replay import Replayer

pytestmark = pytest.mark.integration


def test_read_range_is_pinned_to_the_generation_and_empty_past_the_end(storage_client: Any, bucket: str) -> None:
    store = gcs_store()
    first = store.put(bucket, "m/v1/model.pt2", b"0123456789")
    store.put(bucket, "m/v1/model.pt2", b"abcdefghij")
    assert store.read_range(bucket, "m/v1/model.pt2", None, 7, 10) == b"hij"
    assert store.read_range(bucket, "m/v1/model.pt2", first.generation, 2, 3) in (b"234", None)
    assert store.read_range(bucket, "m/v1/model.pt2", None, 10, 5) == b""
    assert store.read_range(bucket, "m/v1/gone.pt2", None, 0, 5) is None


@pytest.mark.parametrize(
    ("make", "width", "name", "expected"),
    [
        (archives.torchscript, archives.SMALL_WIDTH, "model.pt", "torchscript"),
        (archives.torchscript, archives.LARGE_WIDTH, "model.pt", "torchscript"),
        (archives.exported, archives.SMALL_WIDTH, "model.pt2", "torch-export"),
        (archives.exported, archives.LARGE_WIDTH, "model.pt2", "torch-export"),
    ],
)
def test_stored_archives_are_told_by_their_directory(storage_client, bucket, make, width, name, expected) -> None:
    store = gcs_store()
    data = make(width)
    obj = store.put(bucket, f"m/v1/{name}", data)
    found = detect_stored_format(store, bucket, obj.name, obj.generation, obj.size)
    assert found.name == expected, found.detail
    assert width == archives.SMALL_WIDTH or len(data) > 4 * HEAD_BYTES


def test_register_model_on_the_emulators_records_large_archives_as_what_they_are(profile, bigquery_client) -> None:  # noqa: F811
    replayer, spec = Replayer(), function_named("register_model")
    uploads = {
        "ct/v1/model.pt2": archives.exported(archives.LARGE_WIDTH),
        "ct/v2/model.pt": archives.torchscript(archives.LARGE_WIDTH),
    }
    for name, data in uploads.items():
        result = replayer.deliver(spec, delivery_from_document(upload_event(profile["bucket"], name, data)), label=name)
        assert result.outcome == "applied", result.detail
    rows = bigquery_rows(bigquery_client, profile["dataset"])
    assert sorted((r["version"], r["format"]) for r in rows) == [(1, "torch-export"), (2, "torchscript")]
