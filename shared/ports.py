"""Every port: the Protocols handlers and the drift engines depend on. Adapters (shared/adapters,
shared/drift's engines) and test fakes implement them. A handler's own `...Deps` and `...Settings`
Protocols stay beside it: they say which of these ports that use case needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import duckdb

    from shared.drift.profiles import Profile
    from shared.errors import TransientError
    from shared.model_registry import (
        AliasMove,
        AliasResult,
        DeleteResult,
        ModelArtifact,
        ModelSummary,
        ObjectRef,
        RecordResult,
    )
    from shared.payloads.drift import DataLocation
    from shared.quality_gate import GateDecision
    from shared.rollout.targets import RolloutTargets


@dataclass(frozen=True)
class StoredObject:
    """An object as a bucket listing shows it (the same fields a GCS event carries)."""

    bucket: str
    name: str
    generation: int
    size: int
    md5_hash: str | None = None
    crc32c: str | None = None
    content_type: str | None = None
    metageneration: int | None = None
    time_created: datetime | None = None
    updated: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    def read_head(self, bucket: str, name: str, generation: int | None, length: int) -> bytes | None:
        """The first `length` bytes of that object version, or None when it no longer exists."""

    def read_range(self, bucket: str, name: str, generation: int | None, start: int, length: int) -> bytes | None:
        """`length` bytes of that object version from `start` (fewer at its end, none past it), or None when
        it no longer exists. How an archive's central directory is read from its tail."""

    def read(self, bucket: str, name: str) -> bytes | None:
        """The whole current object, or None when there is none (small objects only: it is in memory)."""

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[StoredObject]: ...

    def list_buckets(self) -> list[str]: ...

    def put(
        self,
        bucket: str,
        name: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> StoredObject: ...


class RegistryStore(Protocol):
    def record(self, artifact: ModelArtifact) -> RecordResult:
        """Store the artifact once per record_key; supersede older generations of the same object."""

    def mark_deleted(self, ref: ObjectRef, deleted_at: datetime) -> DeleteResult: ...

    def known_keys(self, bucket: str) -> set[str]:
        """record_keys (`bucket/name#generation`) registered from this bucket, deleted ones included."""

    def undeleted_keys(self, bucket: str) -> set[str]:
        """record_keys from this bucket not marked deleted: what reconcile expects to find in a listing."""

    def list_models(self, env: str | None = None) -> list[ModelSummary]: ...

    def artifacts(self, model: str, env: str | None = None) -> list[dict[str, Any]]:
        """Rows of one model, ordered by env, version, path, generation."""


class ModelAliases(Protocol):
    """Named pointers per model and env (`champion`, `candidate`, ...) to a registered version, with
    their history. A rollback is an alias move."""

    def set_alias(
        self, model: str, env: str, alias: str, version: int, *, by: str, at: datetime, forward_only: bool = False
    ) -> AliasResult:
        """Point `alias` at `version`. UnknownVersionError (naming the version) when the env has no live file
        of that version; PermanentError for a name `alias_name` refuses. Moving it where it already points
        records nothing (`moved=False`), and so does `forward_only` when it points at a newer version: checked
        in the same transaction as the move where the store has one (the quality gate's moves, which a late
        decision on an older version must never take back)."""

    def aliases(self, model: str, env: str | None = None) -> list[AliasMove]:
        """Each alias as it stands (its last move), ordered by env and alias."""

    def alias_history(self, model: str, env: str | None = None) -> list[AliasMove]:
        """Every move, ordered by env, alias and time."""


class GateDecisions(Protocol):
    """The quality gate's decisions (evaluate_model), one per metrics object version, kept beside the rows."""

    def record_decision(self, decision: GateDecision) -> bool:
        """Store the decision once per `decision.record_key`; False when one was already there (kept as it was)."""

    def decisions(self, model: str, env: str | None = None) -> list[GateDecision]:
        """The model's decisions, ordered by env, version and time."""


class AliasedRegistryStore(RegistryStore, ModelAliases, GateDecisions, Protocol):
    """The registry the CLI and the deployed backends offer: rows, aliases and gate decisions."""


class IdempotencyStore(Protocol):
    def claim(self, key: str, *, now: datetime, expires_in_s: float) -> dict[str, Any] | None:
        """Take the claim on `key`. None: ours, go ahead. A dict: the result it already completed with.

        Raises AlreadyInProgressError while another delivery holds an unexpired claim.
        """

    def complete(self, key: str, result: dict[str, Any], *, now: datetime) -> None: ...

    def release(self, key: str) -> None:
        """Drop our claim after a failure so the redelivery can take it at once."""


class AlertLedger(Protocol):
    """The highest threshold already alerted per series (a budget's actual or forecast spend in one
    cost interval), so that a lower threshold arriving after a higher one stays quiet."""

    def highest(self, scope: str) -> float | None: ...

    def raise_to(self, scope: str, threshold: float, *, now: datetime) -> float:
        """Record `threshold` as alerted; the stored value only ever grows. Returns the stored value."""


class SlackNotifier(Protocol):
    """Where team notifications go: a Slack incoming webhook, or a local outbox file.

    Shared by every reaction that tells people something (budget, drift, rollout).
    """

    def post(self, payload: dict[str, Any]) -> None:
        """Deliver one incoming-webhook payload (`text` fallback + Block Kit `blocks`).

        Returns only once it was accepted. Raises TransientError when Slack is unreachable, rate
        limits, or fails with 5xx after the client's own retries, so the event is redelivered; raises
        SlackRejectedError (not permanent for the event: the webhook or payload needs fixing) on 4xx.
        """


class SecretSource(Protocol):
    def get(self, name: str) -> str | None:
        """The secret's current value, or None when it is not configured."""


class FeatureProfiler(Protocol):
    """Histograms of the reference and current feature data, computed where the data lives."""

    def profile(
        self,
        reference: DataLocation,
        current: DataLocation,
        *,
        current_window: tuple[datetime | None, datetime | None],
        features: Sequence[str] = (),
        reference_cache: ReferenceCache | None = None,
    ) -> Profile:
        """`reference_cache` keeps the reference's profile between runs, where the engine can tell
        whether its files changed: the engine gets from it, and puts the profile it computed on a
        miss. When a put reaches storage is the caller's choice (the drift run's: once it succeeded,
        see `PendingReferenceCache`), so the engine puts as soon as it has the profile.

        Bad input is a PermanentError; where the engine can pin it on a field of one side's location
        (no data at the URI, no such timestamp column), an EventParseError naming the request's field
        (`reference.uri`, `current.timestamp_column`)."""


class DriftRunStore(Protocol):
    """One summary row per drift run (`ml_monitoring.drift_runs`)."""

    def record(self, row: dict[str, Any]) -> bool:
        """Store the row once per `run_key`; False when it was already there."""

    def latest(self, model: str, env: str) -> dict[str, Any] | None: ...

    def history(self, model: str, env: str, limit: int = 20) -> list[dict[str, Any]]:
        """The model's last `limit` runs in `env`, newest first, each row in `latest`'s shape
        (`feature_scores` a dict, {} for a row recorded before scores were)."""


class DeploymentCluster(Protocol):
    """apps/v1 Deployments and ReplicaSets as the API serves them (JSON dicts, not client models)."""

    @property
    def dry_run(self) -> bool:
        """True: nothing reaches a cluster; the plan is what counts."""

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def patch_deployment(self, namespace: str, name: str, patch: dict[str, Any] | list[dict[str, Any]]) -> dict:
        """A dict is a strategic merge patch, a list a JSON patch (RFC 6902). Returns the Deployment."""

    def list_replicasets(self, namespace: str, match_labels: dict[str, str]) -> list[dict[str, Any]]: ...


class RolloutJournal(Protocol):
    """Every rollout decision, one JSON object each (embedded: `<state-dir>/rollouts.jsonl`)."""

    def record(self, entry: dict[str, Any]) -> None: ...


class OnceRunner(Protocol):
    """Runs `action` once per `data` (powertools idempotency: DynamoDB, or SQLite when embedded)."""

    def __call__(self, data: dict[str, str], action: Callable[[], dict[str, Any]]) -> tuple[bool, dict[str, Any]]:
        """(True, result) when this call ran it; (False, the first run's result) for a duplicate. Raises
        AlreadyInProgressError while another invocation runs it."""


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class ReferenceCache(Protocol):
    """Reference profiles kept between scheduled drift runs (shared/drift/reference_cache.py)."""

    def get(self, identity: Mapping[str, Any]) -> dict[str, Any] | None: ...

    def put(self, identity: Mapping[str, Any], profile: dict[str, Any]) -> None: ...


class ParquetFiles(Protocol):
    """Where Parquet files named by a gs:// location are, for DuckDB to read: a local folder or GCS."""

    def resolve(self, location: DataLocation) -> list[tuple[str, tuple[Any, ...]]]:
        """(path DuckDB reads, identity: what changes when the file does) per file, sorted.

        Raises EventParseError(field="uri") when nothing matches: a drift job naming no data is a bad request.
        """

    def attach(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Make the paths readable by `connection` (a filesystem to register, or nothing)."""

    def take_failure(self) -> TransientError | None:
        """A transient error met while DuckDB read, which DuckDB reported as one of its own."""


class TargetsSource(Protocol):
    """Which Deployments follow which ECR repository: a file, or an SSM parameter."""

    def load(self) -> RolloutTargets: ...


class FeedbackStore(Protocol):
    """Ground truth sent back by the callers of the inference service's /predict: one entry per
    (model, env, request id, row), a later one for the same row replacing it (callers retry)."""

    def record(self, entry: dict[str, Any]) -> None:
        """Store `entry` (model, env, version, request_id, row, label, received_at, and `joined`: whether
        `prediction`, `confidence` and `served_at` come from the capture of that row, else they are None)."""

    def stats(self, model: str, env: str) -> dict[str, Any]:
        """Labels, positive share and, over the joined entries only (`with_prediction`), accuracy and mean
        absolute error; overall and `by_version` (a summary: a store may read a bounded sample)."""

    def version_accuracy(self, model: str, env: str, version: int) -> dict[str, Any]:
        """One version's joined labels (`with_prediction`) and, when there is any, `accuracy` at 0.5: exact
        over every entry, what the accuracy gauge and its alert read."""


@dataclass(frozen=True)
class CapturedPrediction:
    """What the inference service answered for one row of one request, as its prediction capture recorded it."""

    request_id: str
    row: int
    version: int
    served_at: datetime
    prediction: float | None  # tabular: the probability; image: the last label's (a binary model's positive class)
    label: str | None = None
    confidence: float | None = None


class CapturedPredictions(Protocol):
    """The captures `PredictionSink` wrote, looked up by the row they answered: what /feedback joins a label
    to, so accuracy is taken over what the service served and never over what a caller says it was served."""

    def find(self, model: str, env: str, request_id: str, row: int) -> CapturedPrediction | None:
        """The captured prediction, or None when there is none within the adapter's window (the row was not
        sampled, its batch not written yet, or it is older than the window). Raise TransientError when the
        backend cannot answer now: "not found" must mean not found."""


class PredictionSink(Protocol):
    """Where the inference service's captured predictions go (`ml_monitoring.predictions` in BigQuery,
    or Parquet under `gs://ml-predictions-{env}/{model}/dt=YYYY-MM-DD/`): called off the request path, by
    the capture's writer thread, with a batch of records (mlops_inference.capture): a
    `shared.captured_records.CapturedRecords`, which a sink may read as columns rather than record by
    record."""

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        """Store the records (request_id, row, served_at, model, version, env, kind, features, prediction,
        label, confidence); raise on failure (the batch is then counted as dropped)."""
