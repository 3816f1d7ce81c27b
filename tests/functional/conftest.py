from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.local_object_store import LocalObjectStore
from shared.demo import seed_local_buckets


@pytest.fixture
def state_dir(tmp_path, monkeypatch) -> Path:
    """A fresh embedded profile whose local model bucket holds the sample objects."""
    state = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state))
    seed_local_buckets(LocalObjectStore(state / "buckets"))
    return state
