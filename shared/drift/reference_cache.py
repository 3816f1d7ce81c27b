"""Reference profiles kept between scheduled runs, as JSON objects in the drift-logs bucket.

A scheduled job compares a fixed training reference with a moving window: after the first run only
the window needs reading. The key is a hash of everything that shapes the profile (each reference
file's name, generation and size, the window, the features, the profiler's settings, the format's
version), so a changed file or setting is a miss, never a stale hit. The cache sits on the
ObjectStore port: a local folder in the embedded profile, GCS elsewhere, shared by every instance.

A profile is kept only once the run that computed it succeeded (`PendingReferenceCache`): a request
refused after its reference was profiled (a method that does not fit a column, a misspelled column on
the current side) leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.errors import TransientError

if TYPE_CHECKING:
    from shared.ports import ObjectStore, ReferenceCache

CACHE_VERSION = 3  # bump when ReferenceProfile's meaning changes (3: +-inf missing, its source kept)
PREFIX = "drift-cache/reference/"
log = logging.getLogger(__name__)


def cache_key(identity: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps({"version": CACHE_VERSION, **identity}, sort_keys=True).encode()).hexdigest()


class ObjectStoreReferenceCache:
    """A miss costs a profile of the reference, a failed write only the next run's time: neither
    fails the run (both are logged)."""

    def __init__(self, objects: ObjectStore, bucket: str, prefix: str = PREFIX) -> None:
        self._objects = objects
        self._bucket = bucket
        self._prefix = prefix
        self.hits = 0

    def _name(self, identity: Mapping[str, Any]) -> str:
        return f"{self._prefix}{cache_key(identity)}.json"

    def get(self, identity: Mapping[str, Any]) -> dict[str, Any] | None:
        name = self._name(identity)
        try:
            data = self._objects.read(self._bucket, name)
        except TransientError as exc:
            log.warning("reference cache gs://%s/%s unreadable, profiling the reference: %s", self._bucket, name, exc)
            return None
        if data is None:
            return None
        try:
            profile = json.loads(data)
        except ValueError:
            log.warning("reference cache gs://%s/%s is not JSON, profiling the reference", self._bucket, name)
            return None
        self.hits += 1
        return profile

    def put(self, identity: Mapping[str, Any], profile: dict[str, Any]) -> None:
        name = self._name(identity)
        try:
            # One whole-object write: a concurrent run reads a whole profile or none.
            self._objects.put(self._bucket, name, json.dumps(profile).encode(), content_type="application/json")
        except TransientError as exc:
            log.warning("reference cache gs://%s/%s not written: %s", self._bucket, name, exc)


class PendingReferenceCache:
    """Reads through to `cache`; holds what the engine puts until `commit`.

    The engine profiles the reference before the rest of the request is checked, so a put made at
    once would outlive a run that is then refused. The caller commits when the run has succeeded;
    a run that fails or is rejected simply drops this object, and its puts with it.
    """

    def __init__(self, cache: ReferenceCache) -> None:
        self._cache = cache
        self._pending: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def get(self, identity: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._cache.get(identity)

    def put(self, identity: Mapping[str, Any], profile: dict[str, Any]) -> None:
        self._pending.append((dict(identity), profile))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def commit(self) -> None:
        """Write what was put, in order (the cache's own put logs and swallows a failed write)."""
        pending, self._pending = self._pending, []
        for identity, profile in pending:
            self._cache.put(identity, profile)
