"""GcsObjectStore (GCS's JSON API over REST) against fake-gcs-server, with google-cloud-storage as the
oracle where the two must agree: names, bytes, metadata."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.gcs_checksums import gcs_crc32c, gcs_md5
from shared.adapters.gcs_object_store import GcsObjectStore
from tests.integration.conftest import gcs_store

pytestmark = pytest.mark.integration


@pytest.fixture
def store(storage_client: Any) -> GcsObjectStore:
    return gcs_store()


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
    # GIVEN a store pointed at a port where nothing listens, with a short deadline
    from shared.adapters.google_rest import FixedToken, GoogleApi, JsonHttp
    from shared.errors import TransientError
    from tooling.localcloud.emulators import free_port

    dead = GoogleApi(f"http://127.0.0.1:{free_port()}/", FixedToken(), JsonHttp(timeout_s=1))
    store = GcsObjectStore(dead, "p")

    # WHEN it is used THEN the failure is a TransientError (the platform redelivers), not a socket error
    with pytest.raises(TransientError):
        store.read_head("b", "m/v1/x.bin", 1, 16)


# Object names as users write them: separators, URL metacharacters, percent signs, non-ASCII.
NAMES = st.text(alphabet=st.sampled_from(list("aZ09/ #?%&+=:@!$'()*,;~-_.é中")), min_size=1, max_size=40).filter(
    lambda n: n not in (".", "..") and not n.startswith("/")
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES, data=st.binary(max_size=64))
def test_any_object_name_round_trips_with_the_sdk(
    store: GcsObjectStore, storage_client: Any, bucket: str, name: str, data: bytes
) -> None:
    # GIVEN an object put over REST under a name that needs escaping
    stored = store.put(bucket, name, data, metadata={"uploader": "ci"})

    # THEN the SDK reads the same bytes, generation and metadata under that name
    blob = storage_client.bucket(bucket).get_blob(name)
    assert (blob.download_as_bytes(), blob.generation, blob.metadata) == (data, stored.generation, {"uploader": "ci"})
    # AND REST reads it back, whole and pinned, and lists it under its own name as prefix
    assert store.read(bucket, name) == data
    assert store.read_head(bucket, name, stored.generation, 8) == data[:8]
    assert name in {o.name for o in store.list_objects(bucket, name)}


def test_an_object_the_sdk_wrote_is_described_as_the_sdk_describes_it(
    store: GcsObjectStore, storage_client: Any, bucket: str
) -> None:
    # GIVEN an object uploaded with the SDK
    blob = storage_client.bucket(bucket).blob("m/v1/model.onnx")
    blob.metadata = {"a": "1"}
    blob.upload_from_string(b"abc" * 1000, content_type="application/onnx")
    blob.reload()

    # WHEN REST lists it THEN every field is the SDK's
    [listed] = list(store.list_objects(bucket, "m/"))
    expected = (
        blob.generation, blob.size, blob.md5_hash, blob.crc32c, blob.content_type, blob.metageneration,
        blob.time_created, blob.updated, blob.metadata,
    )  # fmt: skip
    actual = (
        listed.generation, listed.size, listed.md5_hash, listed.crc32c, listed.content_type, listed.metageneration,
        listed.time_created, listed.updated, listed.metadata,
    )  # fmt: skip
    assert actual == expected


def test_a_listing_longer_than_a_page_is_read_to_its_end(bucket: str) -> None:
    # GIVEN a store reading pages of 100, and 250 objects under a prefix (and one outside it)
    store = gcs_store(page_size=100)
    names = {f"p/{i:04d}" for i in range(250)}
    for name in [*names, "q/0"]:
        store.put(bucket, name, b"")

    # WHEN they are listed THEN every one comes back once, over three pages
    listed = [o.name for o in store.list_objects(bucket, "p/")]
    assert sorted(listed) == sorted(names)


def test_a_gzip_encoded_object_reads_as_the_sdk_reads_it(
    store: GcsObjectStore, storage_client: Any, bucket: str
) -> None:
    # GIVEN an object stored gzip-encoded (Content-Encoding: gzip), 10,240 bytes compressed to a few hundred
    import gzip

    plain = bytes(range(256)) * 40
    stored_bytes = gzip.compress(plain)
    blob = storage_client.bucket(bucket).blob("m/v1/weights.bin")
    blob.content_encoding = "gzip"
    blob.upload_from_string(stored_bytes, content_type="application/octet-stream")
    blob.reload()

    # WHEN it is read whole THEN it comes back decompressed (checked against GCS's hash of the stored bytes)
    assert store.read(bucket, "m/v1/weights.bin") == plain == blob.download_as_bytes()
    # AND ranges count the bytes as stored, as GCS serves them to a client that accepts gzip: the head is
    # the gzip header, never the whole object decompressed, and a range past the stored end is empty
    assert store.read_head(bucket, "m/v1/weights.bin", blob.generation, 16) == stored_bytes[:16]
    assert store.read_range(bucket, "m/v1/weights.bin", blob.generation, 10, 8) == stored_bytes[10:18]
    assert store.read_range(bucket, "m/v1/weights.bin", blob.generation, 5000, 8) == b""
