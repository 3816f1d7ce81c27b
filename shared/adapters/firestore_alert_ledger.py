"""AlertLedger on Firestore: `{collection}/{sha256(scope)}` = {scope, highest, updated_at}.

Like the registry, no read-write transaction: a conditional write on the document's last update
time, retried on conflict, keeps `highest` monotonic under concurrent deliveries.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from shared.adapters.firestore_rest import AlreadyExists, FailedPrecondition, FirestoreRest, NotFound
from shared.adapters.gcp_errors import translate_errors
from shared.errors import TransientError

_MAX_ROUNDS = 20


class FirestoreAlertLedger:
    def __init__(self, client: FirestoreRest, collection: str = "budget_alerts") -> None:
        self._client = client
        self._collection = collection

    def _ref(self, scope: str) -> Any:
        return self._client.collection(self._collection).document(hashlib.sha256(scope.encode()).hexdigest())

    def highest(self, scope: str) -> float | None:
        with translate_errors(f"read alert ledger {scope}"):
            snapshot = self._ref(scope).get()
        return float(snapshot.get("highest")) if snapshot.exists else None

    def raise_to(self, scope: str, threshold: float, *, now: datetime) -> float:
        ref = self._ref(scope)
        fields = {"scope": scope, "highest": threshold, "updated_at": now.isoformat()}
        with translate_errors(f"raise alert ledger {scope}"):
            for _ in range(_MAX_ROUNDS):
                snapshot = ref.get()
                try:
                    if not snapshot.exists:
                        ref.create(fields)
                        return threshold
                    current = float(snapshot.get("highest"))
                    if current >= threshold:
                        return current
                    ref.update(fields, option=self._client.write_option(last_update_time=snapshot.update_time))
                    return threshold
                except (AlreadyExists, FailedPrecondition, NotFound):
                    continue  # another delivery wrote meanwhile: compare again
        raise TransientError(f"alert ledger {scope}: kept changing")
