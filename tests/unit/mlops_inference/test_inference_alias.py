"""The inference service serving an alias: MODEL_ALIAS names it, the registry's aliases say where it points.

GIVEN versions registered the way production registers them, and an alias moved with the registry's own
`set_alias` (what `mlops-events registry alias set` calls)
WHEN the service serves MODEL_ALIAS=champion and the alias moves forward, then back (a rollback)
THEN it serves exactly the version the alias points to, follows each move on its next refresh without a
restart, and is not ready while the alias points nowhere; the latest version is served without an alias.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from mlops_inference.app import create_app
from mlops_inference.main import build_service
from mlops_inference.settings import ServiceSettings, SettingsError
from shared.adapters.sqlite_registry import SqliteRegistryStore
from tests.support.inference_support import MODEL, model_files, register

ROW = {"amount": 62.5, "country": "US"}


@pytest.fixture
def state(tmp_path, monkeypatch):
    state_dir = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state_dir))
    for version, bias in ((1, 0.0), (2, 3.0), (3, -3.0)):
        register(state_dir, version, model_files(bias=bias))
    return state_dir


def move(state, version: int) -> None:
    registry = SqliteRegistryStore(state / "registry.sqlite")
    registry.set_alias(MODEL, "dev", "champion", version, by="tests", at=datetime.now(UTC))


def served_version(client: TestClient) -> int:
    return client.post("/predict", json={"rows": [ROW]}).json()["version"]


def test_the_service_follows_its_alias_forward_and_back_without_a_restart(state):
    settings = ServiceSettings(model_name=MODEL, env="dev", reload_s=0, model_alias="champion")
    with TestClient(create_app(build_service(settings))) as client:
        # no champion yet: not ready, whatever is registered
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert "alias champion of tiny-fraud points to no live version in dev" in not_ready.json()["reason"]

        move(state, 2)
        holder = client.app.state.service.holder
        assert holder.refresh() is True and served_version(client) == 2  # not 3, the latest
        assert holder.refresh() is False  # the alias did not move: nothing reloaded

        move(state, 1)  # the rollback: an alias move
        assert holder.refresh() is True and served_version(client) == 1


def test_without_an_alias_the_latest_version_is_served(state):
    move(state, 1)
    settings = ServiceSettings(model_name=MODEL, env="dev", reload_s=0)
    with TestClient(create_app(build_service(settings))) as client:
        assert served_version(client) == 3


@pytest.mark.parametrize("raw", ["latest", "v2", "Champion", "x" * 41, "-x"])
def test_an_alias_that_cannot_be_one_is_refused_at_start(raw):
    with pytest.raises(SettingsError, match="MODEL_ALIAS"):
        ServiceSettings.from_env({"MODEL_NAME": MODEL, "ENV": "dev", "MODEL_ALIAS": raw})
    assert (
        ServiceSettings.from_env({"MODEL_NAME": MODEL, "ENV": "dev", "MODEL_ALIAS": "champion"}).model_alias
        == "champion"
    )
