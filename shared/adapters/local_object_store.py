"""ObjectStore on a local folder (embedded profile): `<root>/<bucket>/<object name>`.

Each object has a sidecar `<root>/.meta/<bucket>/<name>.json` with what GCS would keep beside the bytes
(generation, content type, custom metadata, checksums). Files copied in by hand have no sidecar and
get their generation from the file's modification time, as GCS generations are microsecond times.
A sidecar whose recorded modification time no longer matches (the state dir was copied, `cp -r`
gives new times) still gives the generation as long as its checksums match the bytes: a copied
state dir keeps its generations, so the registry's versions are not taken for gone. A sidecar that
cannot be read is reported, naming it, and taken as absent: one bad file never fails a whole listing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.adapters.gcs_checksums import gcs_crc32c, gcs_md5
from shared.errors import PermanentError
from shared.ports import StoredObject

_META = ".meta"
MAX_SEGMENT_BYTES = 200
log = logging.getLogger(__name__)


class LocalObjectStore:
    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    def _data_path(self, bucket: str, name: str) -> Path:
        # A file name holds 255 bytes, and its sidecar adds `.json` and a temporary suffix; GCS has no such
        # limit, so a longer segment is bad input here (it was an OSError: a 500 redelivered for ever).
        if any(len(part.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES for part in (bucket, *name.split("/"))):
            raise PermanentError(
                f"object name has a path segment over {MAX_SEGMENT_BYTES} bytes, the local store's limit"
            )
        path = (self._root / bucket / name).resolve()
        if not path.is_relative_to(self._root.resolve() / bucket) or bucket.startswith("."):
            raise ValueError(f"object name escapes the bucket folder: {bucket}/{name}")
        return path

    def _meta_path(self, bucket: str, name: str) -> Path:
        return self._root / _META / bucket / f"{name}.json"

    def _sidecar(self, bucket: str, name: str) -> dict[str, Any]:
        """The object's sidecar; an unreadable one is reported, naming it, and taken as absent."""
        meta_path = self._meta_path(bucket, name)
        try:
            meta = json.loads(meta_path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning(
                "sidecar %s is unreadable (%s): ignored, %s/%s described from its bytes", meta_path, exc, bucket, name
            )
            return {}
        if not isinstance(meta, dict) or not isinstance(meta.get("generation", 0), int):
            log.warning(
                "sidecar %s is not an object sidecar: ignored, %s/%s described from its bytes", meta_path, bucket, name
            )
            return {}
        return meta

    def _describe(self, bucket: str, name: str) -> StoredObject | None:
        data_path = self._data_path(bucket, name)
        if not data_path.is_file():
            return None
        meta = self._sidecar(bucket, name)
        stat = data_path.stat()
        if meta.get("mtime_ns") != stat.st_mtime_ns:  # copied, or changed behind our back: check the bytes
            data = data_path.read_bytes()
            md5, crc32c = gcs_md5(data), gcs_crc32c(data)
            if not (meta.get("md5Hash") == md5 and meta.get("crc32c") == crc32c and "generation" in meta):
                meta = {"generation": stat.st_mtime_ns // 1000, "md5Hash": md5, "crc32c": crc32c}
        created = datetime.fromtimestamp(int(meta["generation"]) / 1e6, UTC)
        return StoredObject(
            bucket=bucket,
            name=name,
            generation=int(meta["generation"]),
            size=stat.st_size,
            md5_hash=meta.get("md5Hash"),
            crc32c=meta.get("crc32c"),
            content_type=meta.get("contentType"),
            metageneration=1,
            time_created=created,
            updated=created,
            metadata=dict(meta.get("metadata") or {}),
        )

    def read_head(self, bucket: str, name: str, generation: int | None, length: int) -> bytes | None:
        current = self._describe(bucket, name)
        if current is None or (generation is not None and current.generation != generation):
            return None
        with self._data_path(bucket, name).open("rb") as handle:
            return handle.read(length)

    def read_range(self, bucket: str, name: str, generation: int | None, start: int, length: int) -> bytes | None:
        current = self._describe(bucket, name)
        if current is None or (generation is not None and current.generation != generation):
            return None
        if length <= 0 or start < 0:
            return b""
        with self._data_path(bucket, name).open("rb") as handle:
            handle.seek(start)
            return handle.read(length)

    def read(self, bucket: str, name: str) -> bytes | None:
        path = self._data_path(bucket, name)
        return path.read_bytes() if path.is_file() else None

    def list_buckets(self) -> list[str]:
        if not self._root.is_dir():
            return []
        return sorted(p.name for p in self._root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[StoredObject]:
        base = self._root / bucket
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file():
                name = path.relative_to(base).as_posix()
                if name.startswith(prefix):
                    found = self._describe(bucket, name)
                    if found is not None:
                        yield found

    def put(
        self,
        bucket: str,
        name: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        generation: int | None = None,
    ) -> StoredObject:
        """Write an object; `generation` lets the demo reproduce the generations its events name."""
        data_path = self._data_path(bucket, name)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        previous = self._describe(bucket, name)
        if generation is None:
            generation = max(time.time_ns() // 1000, (previous.generation + 1) if previous else 0)
        data_path.write_bytes(data)
        meta = {
            "generation": generation,
            "md5Hash": gcs_md5(data),
            "crc32c": gcs_crc32c(data),
            "contentType": content_type,
            "metadata": metadata or {},
            "mtime_ns": data_path.stat().st_mtime_ns,
        }
        meta_path = self._meta_path(bucket, name)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        written = meta_path.with_name(f"{meta_path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        written.write_text(json.dumps(meta, sort_keys=True))
        os.replace(written, meta_path)  # whole or not at all: a crash never leaves a torn sidecar
        found = self._describe(bucket, name)
        assert found is not None
        return found
