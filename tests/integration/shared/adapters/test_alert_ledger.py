"""The alert ledger keeps the highest threshold alerted per series, monotonic under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.firestore_alert_ledger import FirestoreAlertLedger
from shared.adapters.sqlite_alert_ledger import SqliteAlertLedger
from tests.integration.conftest import firestore_rest

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SCOPE = "budget-1/2026-11-01T07:00:00+00:00/actual"


@pytest.fixture(params=["sqlite", "firestore"])
def ledger(request, tmp_path):
    if request.param == "sqlite":
        return SqliteAlertLedger(tmp_path / "alerts.sqlite")
    firestore_db: Any = request.getfixturevalue("firestore_db")
    return FirestoreAlertLedger(firestore_rest(firestore_db))


def test_highest_only_grows(ledger):
    assert ledger.highest(SCOPE) is None
    assert ledger.raise_to(SCOPE, 0.9, now=NOW) == 0.9
    assert ledger.raise_to(SCOPE, 0.5, now=NOW) == 0.9  # a stale lower threshold changes nothing
    assert ledger.raise_to(SCOPE, 1.0, now=NOW) == 1.0
    assert ledger.highest(SCOPE) == 1.0
    assert ledger.highest(SCOPE.replace("actual", "forecast")) is None  # series are apart


def test_concurrent_raises_keep_the_maximum(ledger):
    thresholds = [0.5, 0.75, 0.9, 1.0, 1.1, 0.25, 0.8, 1.05]
    barrier = threading.Barrier(len(thresholds))
    errors: list[BaseException] = []

    def raise_to(value: float) -> None:
        barrier.wait()
        try:
            ledger.raise_to(SCOPE, value, now=NOW)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=raise_to, args=(t,)) for t in thresholds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert ledger.highest(SCOPE) == 1.1
