"""IdempotencyStore on Firestore: one document per claimed key, taken inside a transaction.

Same semantics as SqliteIdempotencyStore. Document ids are the sha256 of the key, because natural
keys hold `/` (a path separator in Firestore) and `#`; the key itself is kept in a field to read.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters._gcp_errors import translate_errors
from shared.errors import AlreadyInProgressError

if TYPE_CHECKING:
    from google.cloud import firestore

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
# How long a record outlives its claim or completion. A Firestore TTL policy on the `expire_at` field
# (terraform: google_firestore_field with ttl_config) deletes it after that; keep it longer than the
# longest redelivery window (Pub/Sub retains unacked messages up to 7 days).
DEFAULT_RETENTION = timedelta(days=8)
# Racing deliveries of one event abort each other's transactions; give the losers room to see the winner.
_MAX_ATTEMPTS = 10


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def doc_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class FirestoreIdempotencyStore:
    def __init__(self, client: firestore.Client, collection: str, *, retention: timedelta = DEFAULT_RETENTION) -> None:
        self._client = client
        self._collection = collection
        self._retention = retention

    def _ref(self, key: str) -> Any:
        return self._client.collection(self._collection).document(doc_id(key))

    def claim(self, key: str, *, now: datetime, expires_in_s: float) -> dict[str, Any] | None:
        from google.cloud import firestore

        now = _utc(now)
        expires_at = now + timedelta(seconds=expires_in_s)
        ref = self._ref(key)

        @firestore.transactional
        def take(transaction: Any) -> dict[str, Any] | None:
            snapshot = ref.get(transaction=transaction)
            if snapshot.exists:
                stored = snapshot.to_dict() or {}
                if stored.get("status") == COMPLETED:
                    return json.loads(stored.get("result") or "{}")
                if _utc(stored["expires_at"]) > now:
                    raise AlreadyInProgressError(f"another delivery is processing {key}")
            transaction.set(
                ref,
                {
                    "key": key,
                    "status": IN_PROGRESS,
                    "expires_at": expires_at,
                    "result": None,
                    "expire_at": expires_at + self._retention,
                },
            )
            return None

        with translate_errors(f"claim {key}"):
            return take(self._client.transaction(max_attempts=_MAX_ATTEMPTS))

    def complete(self, key: str, result: dict[str, Any], *, now: datetime) -> None:
        """Mark the key done. Like the SQLite store, completing a key nobody claimed changes nothing."""
        from google.api_core.exceptions import NotFound

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
        from google.cloud import firestore

        ref = self._ref(key)

        @firestore.transactional
        def drop(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            if snapshot.exists and (snapshot.to_dict() or {}).get("status") == IN_PROGRESS:
                transaction.delete(ref)

        with translate_errors(f"release {key}"):
            drop(self._client.transaction(max_attempts=_MAX_ATTEMPTS))
