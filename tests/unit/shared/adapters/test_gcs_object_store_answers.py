"""How GcsObjectStore reads answers fake-gcs-server never gives: bytes damaged in transit, a server that
ignores the range, an object stored gzip-encoded that is not gzip (a scripted HTTP server plays GCS)."""

from __future__ import annotations

import gzip

import pytest

from shared.adapters.gcs_checksums import gcs_crc32c, gcs_md5
from shared.adapters.gcs_object_store import GcsObjectStore
from shared.adapters.google_rest import FixedToken, GoogleApi, JsonHttp
from shared.errors import PermanentError, TransientError
from tests.support.scripted_http import ScriptedServer

DATA = b"0123456789" * 10


@pytest.fixture
def store(server: ScriptedServer) -> GcsObjectStore:
    return GcsObjectStore(GoogleApi(server.url, FixedToken(), JsonHttp(timeout_s=5)), "p")


def test_bytes_that_do_not_match_gcs_hash_are_transient(server: ScriptedServer, store: GcsObjectStore) -> None:
    # GIVEN an answer whose body is not what its x-goog-hash says (damaged in transit)
    hashes = f"crc32c={gcs_crc32c(DATA)},md5={gcs_md5(DATA)}"
    server.script = [(200, DATA[:-1] + b"X", False, [("x-goog-hash", hashes)])]

    # WHEN the object is read THEN it is not returned: another read may get it whole
    with pytest.raises(TransientError, match="do not match"):
        store.read("b", "o")


def test_a_crc32c_alone_is_checked_too(server: ScriptedServer, store: GcsObjectStore) -> None:
    # GIVEN a composite object's answer: a CRC32C and no MD5, sent as its own header line
    server.script = [(200, DATA, False, [("x-goog-hash", f"crc32c={gcs_crc32c(DATA)}")])]
    assert store.read("b", "o") == DATA
    server.script = [(200, DATA + b"!", False, [("x-goog-hash", f"crc32c={gcs_crc32c(DATA)}")])]
    with pytest.raises(TransientError):
        store.read("b", "o")


def test_a_server_that_ignores_the_range_still_gives_only_the_range(
    server: ScriptedServer, store: GcsObjectStore
) -> None:
    # GIVEN a server answering a ranged read with the whole object (200, not 206)
    server.script = [(200, DATA, False)]

    # WHEN a range is read THEN only its bytes come back, and the range was asked for
    assert store.read_range("b", "o", 7, 20, 5) == DATA[20:25]
    assert server.requests[0]["headers"]["Range"] == "bytes=20-24"
    assert server.requests[0]["headers"]["Accept-Encoding"] == "gzip"


def test_a_gzip_encoded_object_that_is_not_gzip_is_refused_for_good(
    server: ScriptedServer, store: GcsObjectStore
) -> None:
    server.script = [(200, DATA, False, [("Content-Encoding", "gzip")])]
    with pytest.raises(PermanentError, match="not gzip"):
        store.read("b", "o")


def test_bytes_gcs_decompressed_itself_are_taken_as_they_are(server: ScriptedServer, store: GcsObjectStore) -> None:
    # GIVEN GCS's answer for an object stored as gzip content and gzip-encoded: decompressed by GCS although
    # gzip was accepted, with the hash of the stored (compressed) bytes
    stored = gzip.compress(DATA)
    headers = [("x-goog-hash", f"md5={gcs_md5(stored)}"), ("x-guploader-response-body-transformations", "gunzipped")]
    server.script = [(200, DATA, False, headers)]

    # WHEN it is read THEN the bytes come back as GCS gave them, not refused on every redelivery
    assert store.read("b", "o") == DATA
