"""The service gets its feedback store through the FeedbackStore port (issue 17): whatever store is
handed in is the one /feedback writes to and /feedback/stats reads."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mlops_inference.app import create_app
from mlops_inference.feedback import summarize
from mlops_inference.main import InferenceDeps, ServiceDeps, build_service
from mlops_inference.settings import ServiceSettings
from shared.deps import current_deps
from shared.ports import FeedbackStore
from tests.support.inference_support import MODEL, model_files, register


class ListFeedbackStore:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def record(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)

    def stats(self, model: str, env: str) -> dict[str, Any]:
        return summarize(e for e in self.entries if (e["model"], e["env"]) == (model, env))

    def version_accuracy(self, model: str, env: str, version: int) -> dict[str, Any]:
        return self.stats(model, env)["by_version"].get(str(version), {"with_prediction": 0})


class OwnFeedbackDeps:
    """The profile's registry and bucket, a feedback store of the test's."""

    def __init__(self, feedback: FeedbackStore) -> None:
        runtime = ServiceDeps(current_deps())
        self.registry, self.objects, self.drift_runs = runtime.registry, runtime.objects, runtime.drift_runs
        self.feedback = feedback


def test_the_feedback_store_handed_in_is_the_one_used(tmp_path, monkeypatch):
    # GIVEN a model registered on the embedded profile and a feedback store of our own
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(tmp_path))
    register(tmp_path, 1, model_files())
    store = ListFeedbackStore()
    deps: InferenceDeps = OwnFeedbackDeps(store)
    settings = ServiceSettings(model_name=MODEL, env="dev", reload_s=0)

    # WHEN a prediction is answered and its label sent back
    with TestClient(create_app(build_service(settings, deps))) as client:
        answer = client.post("/predict", json={"rows": [{"amount": 62.5, "country": "US"}]}).json()
        sent = client.post("/feedback", json={"request_id": answer["request_id"], "label": 1, "prediction": 0.9})
        stats = client.get("/feedback/stats").json()

    # THEN our store holds it, the embedded SQLite store was never created, and the stats are ours
    assert sent.status_code == 202
    assert [(e["model"], e["env"], e["version"], e["label"]) for e in store.entries] == [(MODEL, "dev", 1, 1)]
    assert not (tmp_path / "feedback.sqlite").exists()
    # these deps look no capture up: the label is stored unjoined, and the caller's 0.9 is no prediction
    assert (stats["labels"], stats["with_prediction"]) == (1, 0) and "accuracy" not in stats


def test_the_profile_builds_the_embedded_store_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(tmp_path))
    deps = ServiceDeps(current_deps())
    assert not (tmp_path / "feedback.sqlite").exists()
    assert deps.feedback is deps.feedback  # one store per service
    assert (tmp_path / "feedback.sqlite").exists()
