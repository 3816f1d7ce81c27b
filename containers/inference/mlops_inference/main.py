"""The service assembled from the environment: `uvicorn mlops_inference.main:create --factory`.

MODEL_NAME and ENV say what to serve; MLOPS_EVENTS_PROFILE (embedded, emulators, cloud) picks the
registry, object store, drift-run and feedback backends, the same ones the functions use.
"""

from __future__ import annotations

from typing import Any

from mlops_inference.app import Service, create_app
from mlops_inference.model_source import RegistryModelSource
from mlops_inference.serving import ModelHolder
from mlops_inference.settings import ServiceSettings


def build_service(settings: ServiceSettings | None = None) -> Service:
    from shared.deps import current_deps

    settings = settings or ServiceSettings.from_env()
    deps = current_deps()
    source = RegistryModelSource(deps.registry, deps.objects, settings.model_name, settings.env)
    return Service(settings, ModelHolder(source), feedback=_feedback_store(deps), drift_runs=deps.drift_runs)


def _feedback_store(deps: Any):
    from mlops_inference.feedback import FirestoreFeedbackStore, SqliteFeedbackStore

    if deps.profile == "embedded":
        return SqliteFeedbackStore(deps.settings.state_dir / "feedback.sqlite")
    return FirestoreFeedbackStore(deps.firestore_client())


def create() -> Any:
    return create_app(build_service())
