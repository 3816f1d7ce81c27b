"""FirestoreIdempotencyStore against the Firestore emulator: the SQLite store's semantics, for real."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.firestore_idempotency import FirestoreIdempotencyStore, doc_id
from shared.errors import AlreadyInProgressError, TransientError
from tests.integration.conftest import firestore_rest

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
KEY = "ml-models-dev/resnet/v1/model.safetensors#1700000000000000"


@pytest.fixture
def store(firestore_db: Any) -> FirestoreIdempotencyStore:
    return FirestoreIdempotencyStore(firestore_rest(firestore_db), "idempotency")


def test_first_claim_is_ours_and_stores_the_key(store: FirestoreIdempotencyStore, firestore_db: Any) -> None:
    # GIVEN no claim WHEN a key with '/' and '#' is claimed
    # THEN the claim is ours
    assert store.claim(KEY, now=NOW, expires_in_s=60) is None

    # AND the document id is safe (a hash) and holds the key, the expiry and a TTL field
    doc = firestore_db.collection("idempotency").document(doc_id(KEY)).get().to_dict()
    assert doc["key"] == KEY
    assert doc["status"] == "in_progress"
    assert doc["expires_at"] == NOW + timedelta(seconds=60)
    assert doc["expire_at"] > doc["expires_at"]


def test_completed_claim_returns_the_stored_result(store: FirestoreIdempotencyStore) -> None:
    # GIVEN a claim completed with a result
    store.claim(KEY, now=NOW, expires_in_s=60)
    store.complete(KEY, {"outcome": "applied", "latest": 3, "nested": {"a": [1, 2]}}, now=NOW)

    # WHEN a duplicate delivery claims it, even long after the claim would have expired
    earlier = store.claim(KEY, now=NOW + timedelta(days=1), expires_in_s=60)

    # THEN it gets the earlier result instead of the claim
    assert earlier == {"outcome": "applied", "latest": 3, "nested": {"a": [1, 2]}}


def test_unexpired_claim_is_in_progress(store: FirestoreIdempotencyStore) -> None:
    # GIVEN a claim held by another delivery
    store.claim(KEY, now=NOW, expires_in_s=60)

    # WHEN a second delivery claims before it expires
    # THEN it is told to come back later (a TransientError, so the platform redelivers)
    with pytest.raises(AlreadyInProgressError):
        store.claim(KEY, now=NOW + timedelta(seconds=59), expires_in_s=60)
    assert issubclass(AlreadyInProgressError, TransientError)


def test_expired_claim_is_taken_over(store: FirestoreIdempotencyStore, firestore_db: Any) -> None:
    # GIVEN a claim left behind by a crashed delivery
    store.claim(KEY, now=NOW, expires_in_s=60)

    # WHEN the redelivery comes after it expired
    taken = store.claim(KEY, now=NOW + timedelta(seconds=61), expires_in_s=60)

    # THEN the redelivery owns it, with a new expiry
    assert taken is None
    doc = firestore_db.collection("idempotency").document(doc_id(KEY)).get().to_dict()
    assert doc["expires_at"] == NOW + timedelta(seconds=121)


def test_released_claim_is_free_at_once(store: FirestoreIdempotencyStore) -> None:
    # GIVEN a claim released after a failure
    store.claim(KEY, now=NOW, expires_in_s=600)
    store.release(KEY)

    # WHEN the redelivery claims within the old expiry THEN it is ours
    assert store.claim(KEY, now=NOW + timedelta(seconds=1), expires_in_s=600) is None


def test_release_keeps_a_completed_result(store: FirestoreIdempotencyStore) -> None:
    # GIVEN a completed key
    store.claim(KEY, now=NOW, expires_in_s=60)
    store.complete(KEY, {"outcome": "applied"}, now=NOW)

    # WHEN it is released (a late failure path) THEN the result survives
    store.release(KEY)
    assert store.claim(KEY, now=NOW, expires_in_s=60) == {"outcome": "applied"}


def test_complete_and_release_of_an_unknown_key_change_nothing(store: FirestoreIdempotencyStore) -> None:
    # GIVEN no claim WHEN complete and release are called THEN nothing fails and the key is still free
    store.complete("never-claimed", {"x": 1}, now=NOW)
    store.release("never-claimed")
    assert store.claim("never-claimed", now=NOW, expires_in_s=60) is None


def race_claims(firestore_db: Any, now: datetime, deliveries: int = 8) -> list[object]:
    """`deliveries` stores claim KEY at the same moment; each result is None (won) or the exception."""
    stores = [FirestoreIdempotencyStore(firestore_rest(firestore_db), "idempotency") for _ in range(deliveries)]
    barrier = threading.Barrier(len(stores))
    results: list[object] = []
    lock = threading.Lock()

    def deliver(store: FirestoreIdempotencyStore) -> None:
        barrier.wait()
        try:
            outcome: object = store.claim(KEY, now=now, expires_in_s=60)
        except Exception as exc:
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=deliver, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_racing_claims_have_exactly_one_winner(firestore_db: Any) -> None:
    # GIVEN 8 deliveries of the same event, each with its own store, released at the same moment
    # WHEN they all claim
    results = race_claims(firestore_db, NOW)

    # THEN exactly one wins and every other one is told it is in progress
    assert len(results) == 8
    assert sum(r is None for r in results) == 1, results
    assert all(isinstance(r, AlreadyInProgressError) for r in results if r is not None), results


def test_racing_takeovers_of_an_expired_claim_have_exactly_one_winner(firestore_db: Any) -> None:
    # GIVEN a claim left behind by a crashed delivery, long expired
    FirestoreIdempotencyStore(firestore_rest(firestore_db), "idempotency").claim(KEY, now=NOW, expires_in_s=1)

    # WHEN 8 redeliveries try to take it over at once
    results = race_claims(firestore_db, NOW + timedelta(minutes=10))

    # THEN exactly one takes it over; the others see its fresh claim
    assert len(results) == 8
    assert sum(r is None for r in results) == 1, results
    assert all(isinstance(r, AlreadyInProgressError) for r in results if r is not None), results
