"""Labels sent to /feedback in any order, for the feedback stores' tests: a few rows of a few versions,
some joined to their capture, some not, some sent again (a resend replaces the label; one without a
capture keeps the join an earlier send made). The oracle is the store's own summary of every entry
(`stats`, computed in Python over the rows), which `version_accuracy`'s aggregation must equal."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def entry(
    request_id: str, label: int, prediction: float | None, *, version: int = 1, joined: bool | None = None
) -> dict[str, Any]:
    """A label as /feedback stores it: joined to the capture of its row when `prediction` is not None, or as
    `joined` says (a capture may hold no prediction: an image model's without probabilities)."""
    return {
        "model": "fraud",
        "env": "dev",
        "version": version,
        "request_id": request_id,
        "row": 0,
        "label": label,
        "joined": prediction is not None if joined is None else joined,
        "prediction": prediction,
        "confidence": None if prediction is None else max(prediction, 1 - prediction),
        "served_at": None if prediction is None else AT,
        "received_at": AT,
    }


def send(request: int, version: int, label: int, prediction: float | None, captured: bool = False) -> dict[str, Any]:
    """`captured`: joined even without a prediction."""
    return entry(f"r{request}", label, prediction, version=version, joined=True if captured else None)


sends = st.lists(
    st.builds(
        send,
        st.integers(0, 6),
        st.integers(1, 2),
        st.integers(0, 1),
        st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), st.floats(0, 1)),
        st.booleans(),
    ),
    max_size=25,
)


def drawn_sends(seed: int) -> list[dict[str, Any]]:
    """A seeded draw like `sends`, for stores too slow for hypothesis's many examples (the emulators)."""
    rng = random.Random(seed)
    return [
        send(
            rng.randint(0, 6),
            rng.randint(1, 2),
            rng.randint(0, 1),
            rng.choice([None, 0.0, 0.5, 1.0, rng.random()]),
            rng.random() < 0.2,
        )
        for _ in range(rng.randint(5, 25))
    ]


def expected_accuracy(stats: dict[str, Any], version: int) -> dict[str, Any]:
    """What `version_accuracy` must give, from the store's summary of every entry."""
    group = stats.get("by_version", {}).get(str(version), {})
    joined = group.get("with_prediction", 0)
    return {"with_prediction": joined, **({"accuracy": group["accuracy"]} if joined else {})}


# Written by hand: two joined labels with a prediction (one right, one wrong), one joined without a
# prediction, one not joined, one of another version. What version 1's accuracy must be, whatever the store.
BY_HAND = [
    entry("right", 1, 0.75),
    entry("wrong", 0, 0.75),
    entry("no-prediction", 1, None, joined=True),
    entry("unjoined", 1, None),
    entry("other", 1, 0.9, version=2),
]
BY_HAND_ACCURACY = {1: {"with_prediction": 2, "accuracy": 0.5}, 2: {"with_prediction": 1, "accuracy": 1.0}}
