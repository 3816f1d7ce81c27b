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


def entry(request_id: str, label: int, prediction: float | None, *, version: int = 1) -> dict[str, Any]:
    """A label as /feedback stores it: joined to the capture of its row when `prediction` is not None."""
    return {
        "model": "fraud",
        "env": "dev",
        "version": version,
        "request_id": request_id,
        "row": 0,
        "label": label,
        "joined": prediction is not None,
        "prediction": prediction,
        "confidence": None if prediction is None else max(prediction, 1 - prediction),
        "served_at": None if prediction is None else AT,
        "received_at": AT,
    }


def send(request: int, version: int, label: int, prediction: float | None) -> dict[str, Any]:
    return entry(f"r{request}", label, prediction, version=version)


sends = st.lists(
    st.builds(
        send,
        st.integers(0, 6),
        st.integers(1, 2),
        st.integers(0, 1),
        st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), st.floats(0, 1)),
    ),
    max_size=25,
)


def drawn_sends(seed: int) -> list[dict[str, Any]]:
    """A seeded draw like `sends`, for stores too slow for hypothesis's many examples (the emulators)."""
    rng = random.Random(seed)
    return [
        send(rng.randint(0, 6), rng.randint(1, 2), rng.randint(0, 1), rng.choice([None, 0.0, 0.5, 1.0, rng.random()]))
        for _ in range(rng.randint(5, 25))
    ]


def expected_accuracy(stats: dict[str, Any], version: int) -> dict[str, Any]:
    """What `version_accuracy` must give, from the store's summary of every entry."""
    group = stats.get("by_version", {}).get(str(version), {})
    joined = group.get("with_prediction", 0)
    return {"with_prediction": joined, **({"accuracy": group["accuracy"]} if joined else {})}
