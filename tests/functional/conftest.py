from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.local_object_store import LocalObjectStore
from tooling.demo import seed_local_buckets
from tooling.manifest import REPO_ROOT


@pytest.fixture
def state_dir(tmp_path, monkeypatch) -> Path:
    """A fresh embedded profile whose local model bucket holds the sample objects."""
    state = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state))
    monkeypatch.setenv("MLOPS_EVENTS_ROLLOUT_TARGETS_FILE", str(REPO_ROOT / "events" / "ecr" / "targets.yaml"))
    for variable in ("MLOPS_EVENTS_KUBECONFIG", "KUBECONFIG"):  # the embedded profile's dry run, whatever the shell has
        monkeypatch.delenv(variable, raising=False)
    seed_local_buckets(LocalObjectStore(state / "buckets"))
    return state
