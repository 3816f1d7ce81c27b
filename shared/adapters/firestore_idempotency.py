"""IdempotencyStore on Firestore: one document per claimed key, taken with conditional writes.

Same semantics as SqliteIdempotencyStore. Document ids are the sha256 of the key, because natural
keys hold `/` (a path separator in Firestore) and `#`; the key itself is kept in a field to read.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adapters.firestore_rest import AlreadyExists, FailedPrecondition, FirestoreRest, NotFound
from shared.adapters.gcp_errors import translate_errors
from shared.errors import AlreadyInProgressError, TransientError

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
# How long a record outlives its claim or completion. A Firestore TTL policy on the `expire_at` field
# (terraform: google_firestore_field with ttl_config) deletes it after that; keep it longer than the
# longest redelivery window (Pub/Sub retains unacked messages up to 7 days).
DEFAULT_RETENTION = timedelta(days=8)
# Rounds of create / read / conditional takeover before giving up (each loss means someone else moved).
_MAX_ATTEMPTS = 5


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def doc_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class FirestoreIdempotencyStore:
    def __init__(self, client: FirestoreRest, collection: str, *, retention: timedelta = DEFAULT_RETENTION) -> None:
        self._client = client
        self._collection = collection
        self._retention = retention

    def _ref(self, key: str) -> Any:
        return self._client.collection(self._collection).document(doc_id(key))

    def claim(self, key: str, *, now: datetime, expires_in_s: float) -> dict[str, Any] | None:
        """Create-if-absent, else a takeover conditioned on the update time of the expired claim we saw.

        Both are single atomic writes with a precondition, so racing deliveries cannot both win. This
        beats a read-then-write transaction here: racing transactions hold read locks on the same
        document and wait on each other (on the emulator ~2 s per round, sometimes exhausting every
        attempt), while a failed precondition costs one round trip.
        """
        now = _utc(now)
        expires_at = now + timedelta(seconds=expires_in_s)
        claim = {
            "key": key,
            "status": IN_PROGRESS,
            "expires_at": expires_at,
            "result": None,
            "expire_at": expires_at + self._retention,
        }
        ref = self._ref(key)
        with translate_errors(f"claim {key}"):
            for _ in range(_MAX_ATTEMPTS):
                try:
                    ref.create(claim)
                    return None
                except AlreadyExists:
                    pass
                snapshot = ref.get()
                if not snapshot.exists:  # released between our create and our read: try again
                    continue
                stored = snapshot.to_dict() or {}
                if stored.get("status") == COMPLETED:
                    return json.loads(stored.get("result") or "{}")
                if _utc(stored["expires_at"]) > now:
                    raise AlreadyInProgressError(f"another delivery is processing {key}")
                try:  # the claim expired: take it over, unless someone else changed it since we looked
                    ref.update(claim, option=self._client.write_option(last_update_time=snapshot.update_time))
                    return None
                except (FailedPrecondition, NotFound):
                    continue
        raise TransientError(f"claim {key}: the claim document kept changing under us")

    def complete(self, key: str, result: dict[str, Any], *, now: datetime) -> None:
        """Mark the key done. Like the SQLite store, completing a key nobody claimed changes nothing."""
        now = _utc(now)
        with translate_errors(f"complete {key}"):
            try:
                self._ref(key).update(
                    {
                        "status": COMPLETED,
                        # JSON text, as the SQLite store keeps it: a duplicate gets back exactly what
                        # json round-tripping gives, whatever keys the result has.
                        "result": json.dumps(result, sort_keys=True),
                        "expires_at": now,
                        "expire_at": now + self._retention,
                    }
                )
            except NotFound:
                return

    def release(self, key: str) -> None:
        """Delete our in-progress claim; a completed record stays, and so does a claim changed meanwhile."""
        ref = self._ref(key)
        with translate_errors(f"release {key}"):
            snapshot = ref.get()
            if not snapshot.exists or (snapshot.to_dict() or {}).get("status") != IN_PROGRESS:
                return
            try:
                ref.delete(option=self._client.write_option(last_update_time=snapshot.update_time))
            except (FailedPrecondition, NotFound):
                return  # completed or taken over since we looked: not ours to drop any more
