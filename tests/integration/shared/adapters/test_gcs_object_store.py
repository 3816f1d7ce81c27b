"""GcsObjectStore against fake-gcs-server."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.gcs_checksums import gcs_crc32c, gcs_md5
from shared.adapters.gcs_object_store import GcsObjectStore

pytestmark = pytest.mark.integration


@pytest.fixture
def store(storage_client: Any) -> GcsObjectStore:
    return GcsObjectStore(storage_client)


def test_put_describes_the_new_generation(store: GcsObjectStore, bucket: str) -> None:
    # GIVEN some bytes with a content type and custom metadata
    data = b"\x08\x07onnx-bytes"

    # WHEN they are put
    stored = store.put(bucket, "resnet/v1/model.onnx", data, content_type="application/onnx", metadata={"a": "b"})

    # THEN the returned description is the object as GCS keeps it
    assert stored.bucket == bucket
    assert stored.name == "resnet/v1/model.onnx"
    assert isinstance(stored.generation, int) and stored.generation > 0
    assert stored.size == len(data)
    assert stored.md5_hash == gcs_md5(data)
    assert stored.crc32c == gcs_crc32c(data)
    assert stored.content_type == "application/onnx"
    assert stored.metageneration == 1
    assert stored.metadata == {"a": "b"}
    assert stored.time_created is not None


def test_read_head_returns_the_first_bytes_of_that_generation(store: GcsObjectStore, bucket: str) -> None:
    # GIVEN an object
    stored = store.put(bucket, "m/v1/w.bin", b"0123456789")

    # WHEN its head is read pinned to its generation, or unpinned
    # THEN exactly `length` bytes come back, or the whole object when it is shorter
    assert store.read_head(bucket, "m/v1/w.bin", stored.generation, 4) == b"0123"
    assert store.read_head(bucket, "m/v1/w.bin", None, 4) == b"0123"
    assert store.read_head(bucket, "m/v1/w.bin", stored.generation, 1000) == b"0123456789"


def test_read_head_of_a_stale_generation_is_none(store: GcsObjectStore, bucket: str) -> None:
    # GIVEN an object overwritten by a newer upload
    old = store.put(bucket, "m/v1/w.bin", b"old bytes")
    new = store.put(bucket, "m/v1/w.bin", b"new bytes")
    assert new.generation != old.generation

    # WHEN the old generation's head is read
    # THEN it is gone: None, never the new generation's bytes
    assert store.read_head(bucket, "m/v1/w.bin", old.generation, 3) is None
    assert store.read_head(bucket, "m/v1/w.bin", new.generation, 3) == b"new"


def test_read_head_of_a_missing_object_is_none(store: GcsObjectStore, bucket: str) -> None:
    # GIVEN nothing under that name WHEN its head is read THEN None
    assert store.read_head(bucket, "m/v1/missing.bin", None, 16) is None
    assert store.read_head(bucket, "m/v1/missing.bin", 12345, 16) is None


def test_read_head_of_an_empty_object_is_empty_bytes(store: GcsObjectStore, bucket: str) -> None:
    # GIVEN a zero-byte object (a range request on it is not satisfiable)
    stored = store.put(bucket, "m/v1/empty.bin", b"")

    # WHEN its head is read THEN it exists and is empty
    assert store.read_head(bucket, "m/v1/empty.bin", stored.generation, 16) == b""


def test_list_objects_filters_by_prefix(store: GcsObjectStore, bucket: str) -> None:
    # GIVEN objects of two models
    a = store.put(bucket, "a/v1/model.safetensors", b"aaa", metadata={"uploader": "ana"})
    store.put(bucket, "b/v1/model.safetensors", b"bbbb")

    # WHEN one model's prefix is listed
    listed = list(store.list_objects(bucket, "a/"))

    # THEN only its objects come back, described as put() described them
    assert [o.name for o in listed] == ["a/v1/model.safetensors"]
    assert listed[0].generation == a.generation
    assert listed[0].size == 3
    assert listed[0].metadata == {"uploader": "ana"}
    assert listed[0].md5_hash == a.md5_hash
    assert {o.name for o in store.list_objects(bucket)} == {"a/v1/model.safetensors", "b/v1/model.safetensors"}


def test_list_objects_of_a_missing_bucket_is_empty(store: GcsObjectStore) -> None:
    # GIVEN no such bucket WHEN it is listed THEN nothing, as with the local store
    assert list(store.list_objects("no-such-bucket-for-this-test")) == []


def test_list_buckets_is_sorted(store: GcsObjectStore, storage_client: Any, bucket: str) -> None:
    # GIVEN a second bucket whose name sorts first
    storage_client.create_bucket("aaa-" + bucket)

    # WHEN buckets are listed THEN both are there, in order
    names = store.list_buckets()
    assert names == sorted(names)
    assert {bucket, "aaa-" + bucket} <= set(names)


def test_an_unreachable_server_is_a_transient_error(gcs_emulator: Any) -> None:
    # GIVEN a client pointed at a port where nothing listens, with a short deadline
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from shared.errors import TransientError
    from tooling.localcloud.emulators import free_port

    dead = storage.Client(
        project="p",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{free_port()}"),
    )
    store = GcsObjectStore(dead, timeout_s=1)

    # WHEN it is used THEN the failure is a TransientError (the platform redelivers), not an SDK error
    with pytest.raises(TransientError):
        store.read_head("b", "m/v1/x.bin", 1, 16)
