"""The service assembled from the environment: `uvicorn mlops_inference.main:create --factory`.

MODEL_NAME and ENV say what to serve; MLOPS_EVENTS_PROFILE (embedded, emulators, cloud) picks the
registry, object store, drift-run and feedback backends, the same ones the functions use. The service
receives them as ports (`InferenceDeps`), as a handler receives its `Deps`: tests and other hosts pass
their own. Captured predictions are written (`predictions`) to each of INFERENCE_CAPTURE_SINK's backends
(Parquet in INFERENCE_CAPTURE_BUCKET) and read back by /feedback (`captured`) from the first.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from mlops_inference.app import create_app
from mlops_inference.capture import PredictionCapture
from mlops_inference.model_source import RegistryModelSource
from mlops_inference.service import Service
from mlops_inference.serving import ModelHolder
from mlops_inference.settings import ServiceSettings

if TYPE_CHECKING:
    from shared.deps import Deps
    from shared.ports import (
        CapturedPredictions,
        DriftRunStore,
        FeedbackStore,
        ModelAliases,
        ObjectStore,
        PredictionSink,
        RegistryStore,
    )


class InferenceDeps(Protocol):
    """The ports the service needs: where the model is registered and stored, its aliases (read only with
    MODEL_ALIAS), drift runs, feedback."""

    @property
    def registry(self) -> RegistryStore: ...
    @property
    def aliases(self) -> ModelAliases: ...
    @property
    def objects(self) -> ObjectStore: ...
    @property
    def drift_runs(self) -> DriftRunStore: ...
    @property
    def feedback(self) -> FeedbackStore: ...


class ServiceDeps:
    """The runtime's backends for this profile, plus the service's own feedback store, built lazily."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    @property
    def registry(self) -> RegistryStore:
        return self._deps.registry

    @property
    def aliases(self) -> ModelAliases:
        return self._deps.registry  # every registry backend keeps the aliases beside the rows

    @property
    def objects(self) -> ObjectStore:
        return self._deps.objects

    @property
    def drift_runs(self) -> DriftRunStore:
        return self._deps.drift_runs

    @cached_property
    def feedback(self) -> FeedbackStore:
        from mlops_inference.feedback import FirestoreFeedbackStore, SqliteFeedbackStore

        if self._deps.profile == "embedded":
            return SqliteFeedbackStore(self._deps.settings.state_dir / "feedback.sqlite")
        return FirestoreFeedbackStore(self._deps.firestore_sdk_client())

    @property
    def default_sink(self) -> str:
        """Where predictions are captured unless INFERENCE_CAPTURE_SINK says: BigQuery in the cloud, Parquet
        elsewhere."""
        return "bigquery" if self._deps.profile == "cloud" else "parquet"

    def predictions(self, sink: str | None, env: str, bucket: str = "ml-predictions-{env}") -> PredictionSink:
        """Where captured predictions go: `bigquery` or `parquet` (None: `default_sink`)."""
        sink = sink or self.default_sink
        if sink == "bigquery":
            from shared.adapters.bigquery_prediction_sink import BigQueryPredictionSink

            settings = self._deps.settings
            table = BigQueryPredictionSink(
                self._deps.bigquery_client(), f"{settings.gcp_project}.{settings.monitoring_dataset}.predictions"
            )
            if self._deps.profile == "emulators":
                table.ensure_table()  # Terraform creates it in the cloud
            return table
        from shared.adapters.parquet_prediction_sink import ObjectStorePredictionSink

        if self._deps.profile == "emulators":  # fake-gcs-server starts empty; Terraform creates it in the cloud
            import contextlib

            from google.api_core.exceptions import Conflict

            with contextlib.suppress(Conflict):
                self._deps.storage_client().create_bucket(bucket.format(env=env))
        return ObjectStorePredictionSink(self._deps.objects, bucket)

    def captured(
        self, sink: str | None, env: str, bucket: str = "ml-predictions-{env}", days: int = 7
    ) -> CapturedPredictions:
        """Where /feedback looks a served prediction up: the backend `predictions` writes to, `days` days back."""
        sink = sink or self.default_sink
        if sink == "bigquery":
            from shared.adapters.bigquery_captured_predictions import BigQueryCapturedPredictions

            settings = self._deps.settings
            table_id = f"{settings.gcp_project}.{settings.monitoring_dataset}.predictions"
            if self._deps.profile == "emulators":  # the capture may be off here: the table must still exist
                from shared.adapters.bigquery_prediction_sink import BigQueryPredictionSink

                BigQueryPredictionSink(self._deps.bigquery_client(), table_id).ensure_table()
            return BigQueryCapturedPredictions(self._deps.bigquery_client(), table_id, days=days)
        from shared.adapters.parquet_captured_predictions import ObjectStoreCapturedPredictions

        return ObjectStoreCapturedPredictions(self._deps.objects, bucket, days=days)


def build_service(settings: ServiceSettings | None = None, deps: InferenceDeps | None = None) -> Service:
    settings = settings or ServiceSettings.from_env()
    if deps is None:
        from shared.deps import current_deps

        deps = ServiceDeps(current_deps())
    source = RegistryModelSource(
        deps.registry,
        deps.objects,
        settings.model_name,
        settings.env,
        alias=settings.model_alias,
        aliases=deps.aliases if settings.model_alias else None,
    )
    service = Service(settings, ModelHolder(source), feedback=deps.feedback, drift_runs=deps.drift_runs)
    sinks = settings.capture_sinks or (getattr(deps, "default_sink", None),)  # None: the host's deps choose
    captured = getattr(deps, "captured", None)  # without one, /feedback stores every label unjoined
    if captured is not None and settings.capture_rate > 0:  # capture off: nothing of ours to look up
        service.captured = captured(sinks[0], settings.env, settings.capture_bucket, settings.feedback_join_days)
    predictions = getattr(deps, "predictions", None)  # a host's own deps may capture nothing
    if settings.capture_rate > 0 and predictions is not None:
        service.capture = PredictionCapture(
            {name or "default": predictions(name, settings.env, settings.capture_bucket) for name in sinks},
            service.metrics,
            env=settings.env,
            rate=settings.capture_rate,
            max_queue=settings.capture_queue,
            batch_rows=settings.capture_batch,
            flush_s=settings.capture_flush_s,
        )
    return service


def tune_gc(settings: ServiceSettings) -> None:
    """The collector's threshold for this process (INFERENCE_GC_GEN0). Process-wide, so the entry points call
    it, not the app: a test or a host embedding the app keeps its own."""
    import gc

    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(settings.gc_gen0, gen1, gen2)


def create() -> Any:
    settings = ServiceSettings.from_env()
    tune_gc(settings)
    return create_app(build_service(settings))
