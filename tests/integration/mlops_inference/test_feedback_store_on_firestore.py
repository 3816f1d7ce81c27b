"""The cloud's feedback store on the Firestore emulator: joined entries are scored, unjoined ones counted as
labels only, a resent label replaces the entry (and may join it), as the SQLite store does."""

from __future__ import annotations

import uuid

import pytest

from mlops_inference.feedback import FirestoreFeedbackStore
from tests.support.feedback_sends import BY_HAND, BY_HAND_ACCURACY, drawn_sends, entry, expected_accuracy

pytestmark = pytest.mark.integration


def test_joined_entries_are_scored_and_unjoined_ones_counted(firestore_db):
    store = FirestoreFeedbackStore(firestore_db, collection=f"feedback-{uuid.uuid4().hex[:8]}")
    store.record(entry("a", 1, 0.75))  # right
    store.record(entry("b", 0, 0.75))  # wrong
    store.record(entry("c", 1, None))  # not joined yet...
    store.record(entry("c", 1, 0.25))  # ...sent again once captured: replaces it, wrong
    store.record(entry("d", 0, None, version=2))  # never joined
    # an entry of the code before joining: a caller's claim, no `joined`
    store.record({k: v for k, v in entry("e", 1, 1.0).items() if k != "joined"})

    stats = store.stats("fraud", "dev")

    assert (stats["labels"], stats["with_prediction"]) == (5, 3)
    assert stats["accuracy"] == pytest.approx(1 / 3)
    assert stats["by_version"]["2"] == {"labels": 1, "positive_share": 0.0, "with_prediction": 0}


def test_a_label_resent_without_a_capture_keeps_the_join_it_had(firestore_db):
    store = FirestoreFeedbackStore(firestore_db, collection=f"feedback-{uuid.uuid4().hex[:8]}")
    store.record(entry("a", 1, 0.9))  # joined: right
    store.record(entry("a", 0, None))  # the caller corrects the label after the capture left the window

    stats = store.stats("fraud", "dev")

    assert (stats["labels"], stats["with_prediction"]) == (1, 1)
    assert stats["accuracy"] == 0.0  # the new label, scored on the prediction joined before


def test_a_resent_label_keeps_its_join_and_is_scored_again_in_the_accuracy(firestore_db):
    store = FirestoreFeedbackStore(firestore_db, collection=f"feedback-{uuid.uuid4().hex[:8]}")
    store.record(entry("a", 1, 0.9))  # joined: right
    assert store.version_accuracy("fraud", "dev", 1) == {"with_prediction": 1, "accuracy": 1.0}
    store.record(entry("a", 0, None))  # corrected after the capture left the window: now wrong
    assert store.version_accuracy("fraud", "dev", 1) == {"with_prediction": 1, "accuracy": 0.0}
    assert store.version_accuracy("fraud", "dev", 2) == {"with_prediction": 0}


@pytest.mark.parametrize("seed", range(8))
def test_a_versions_accuracy_is_the_summary_of_every_entry_on_firestore(firestore_db, seed):
    # GIVEN labels sent in any order, joined or not, some sent again
    store = FirestoreFeedbackStore(firestore_db, collection=f"feedback-{uuid.uuid4().hex[:8]}")
    for sent in drawn_sends(seed):
        store.record(sent)
    # THEN the aggregation query (what the accuracy gauge reads) equals the summary of the documents
    stats = store.stats("fraud", "dev")
    for version in (1, 2):
        got = store.version_accuracy("fraud", "dev", version)
        want = expected_accuracy(stats, version)
        assert got["with_prediction"] == want["with_prediction"]
        assert got.get("accuracy") == pytest.approx(want.get("accuracy"))


def test_a_versions_accuracy_by_hand_on_firestore(firestore_db):
    store = FirestoreFeedbackStore(firestore_db, collection=f"feedback-{uuid.uuid4().hex[:8]}")
    for sent in BY_HAND:
        store.record(sent)
    assert {v: store.version_accuracy("fraud", "dev", v) for v in (1, 2)} == BY_HAND_ACCURACY
