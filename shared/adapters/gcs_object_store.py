"""ObjectStore on Google Cloud Storage's JSON API (emulators profile: fake-gcs-server via STORAGE_EMULATOR_HOST).

Over REST rather than google-cloud-storage: the SDK's import is ~115 ms of a function's cold start, and
these are five plain requests (see shared/adapters/google_rest.py). `api` is the storage endpoint's root
(https://storage.googleapis.com/, or the emulator's).
"""

from __future__ import annotations

import gzip
import json
import secrets
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from shared.adapters.gcs_checksums import gcs_crc32c, gcs_md5
from shared.adapters.google_rest import GoogleApi, NotFound, RangeNotSatisfiable, parse_rfc3339
from shared.errors import PermanentError, TransientError
from shared.ports import StoredObject


def _stored(resource: dict[str, Any]) -> StoredObject:
    metageneration = resource.get("metageneration")
    created, updated = resource.get("timeCreated"), resource.get("updated")
    return StoredObject(
        bucket=resource["bucket"],
        name=resource["name"],
        generation=int(resource["generation"]),
        size=int(resource.get("size") or 0),
        md5_hash=resource.get("md5Hash"),
        crc32c=resource.get("crc32c"),
        content_type=resource.get("contentType"),
        metageneration=int(metageneration) if metageneration is not None else None,
        time_created=parse_rfc3339(created) if created else None,
        updated=parse_rfc3339(updated) if updated else None,
        metadata=dict(resource.get("metadata") or {}),
    )


def _check_hash(what: str, data: bytes, x_goog_hash: str) -> None:
    """`md5=...,crc32c=...`: the MD5 when GCS has one (composite objects have only a CRC32C)."""
    hashes = dict(part.strip().split("=", 1) for part in x_goog_hash.split(",") if "=" in part)
    if "md5" in hashes:
        expected, actual = hashes["md5"], gcs_md5(data)
    elif "crc32c" in hashes:
        expected, actual = hashes["crc32c"], gcs_crc32c(data)
    else:
        return
    if expected != actual:  # damaged in transit: another read may get it whole
        raise TransientError(f"read {what}: its bytes do not match the hash GCS gave ({actual} != {expected})")


def _object_path(bucket: str, name: str) -> str:
    return f"storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"


class GcsObjectStore:
    def __init__(self, api: GoogleApi, project: str, *, page_size: int = 1000) -> None:
        self._api = api
        self._project = project  # whose buckets list_buckets lists
        self._page_size = page_size  # GCS's own maximum

    def _read(
        self, bucket: str, name: str, generation: int | None, start: int = 0, length: int | None = None
    ) -> tuple[bytes, dict[str, str]] | None:
        """The stored bytes (all, or `length` from `start`) and the answer's headers; None when that object or
        generation is gone. gzip is accepted, so GCS serves a gzip-encoded object as stored and honours the
        range; without it GCS would decompress it and ignore the range."""
        params = {"alt": "media", "generation": generation}
        headers = {"Accept-Encoding": "gzip"}
        if length is not None:
            headers["Range"] = f"bytes={start}-{start + length - 1}"
        answer: dict[str, str] = {}
        try:
            data = self._api.call(
                "GET", _object_path(bucket, name), params=params, headers=headers, raw=True, answer_headers=answer
            )
        except NotFound:  # overwritten or deleted since the event: that generation is gone
            return None
        except RangeNotSatisfiable:  # GCS answers a range on a zero-byte object, or past the end, with 416
            return b"", {}
        if length is not None and answer.get(":status") == "200":  # the whole object came: the range is ours to cut
            data = data[start : start + length]
        return data, answer

    def read_head(self, bucket: str, name: str, generation: int | None, length: int) -> bytes | None:
        """A ranged read pinned to the event's generation: a newer upload must not be judged in its place. The
        bytes as stored (a gzip-encoded object's compressed bytes), as ranges count them."""
        return self.read_range(bucket, name, generation, 0, length)

    def read_range(self, bucket: str, name: str, generation: int | None, start: int, length: int) -> bytes | None:
        """A ranged read pinned to the generation; a range past the end is empty (GCS answers it 416)."""
        if length <= 0 or start < 0:
            return b""
        found = self._read(bucket, name, generation, start, length)
        return None if found is None else found[0]

    def read(self, bucket: str, name: str) -> bytes | None:
        """The whole object, checked against the hash GCS sends with it (x-goog-hash) as the SDK checks it, and
        decompressed when it is stored gzip-encoded, as the SDK returns it."""
        found = self._read(bucket, name, None)
        if found is None:
            return None
        data, headers = found
        if "gunzipped" in headers.get("x-guploader-response-body-transformations", ""):
            # GCS decompressed it although gzip was accepted (an object stored as gzip content, gzip-encoded):
            # the hash it sends is the stored bytes', which these are not
            return data
        _check_hash(f"gs://{bucket}/{name}", data, headers.get("x-goog-hash", ""))
        if headers.get("content-encoding", "").strip().lower() == "gzip":
            try:
                return gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as exc:
                raise PermanentError(f"gs://{bucket}/{name} is stored gzip-encoded but is not gzip: {exc}") from exc
        return data

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[StoredObject]:
        params = {"prefix": prefix or None, "maxResults": self._page_size}
        try:
            for page in self._api.pages(f"storage/v1/b/{quote(bucket, safe='')}/o", params):
                yield from map(_stored, page.get("items") or [])
        except NotFound:  # a missing bucket lists as empty, as the local store does
            return

    def list_buckets(self) -> list[str]:
        pages = self._api.pages("storage/v1/b", {"project": self._project, "maxResults": self._page_size})
        return sorted(b["name"] for page in pages for b in page.get("items") or [])

    def put(
        self,
        bucket: str,
        name: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> StoredObject:
        """One multipart upload; its answer describes the generation we wrote (a read by name could race a
        concurrent overwrite and describe someone else's)."""
        content_type = content_type or "application/octet-stream"
        if any(c in content_type for c in "\r\n"):
            raise ValueError(f"not a content type: {content_type!r}")
        resource = {"name": name, "contentType": content_type, **({"metadata": dict(metadata)} if metadata else {})}
        boundary = secrets.token_hex(16)
        body = b"".join(
            [
                f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
                json.dumps(resource).encode(),
                f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode(),
                data,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        headers = {"Content-Type": f'multipart/related; boundary="{boundary}"'}
        path = f"upload/storage/v1/b/{quote(bucket, safe='')}/o"
        answer = self._api.call("POST", path, params={"uploadType": "multipart"}, data=body, headers=headers)
        return _stored(answer)
