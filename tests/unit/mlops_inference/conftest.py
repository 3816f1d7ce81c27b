"""What the service's unit tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def state(tmp_path, monkeypatch):
    """The embedded profile in a fresh state dir: the service builds its registry, stores and capture there."""
    state_dir = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state_dir))
    return state_dir
