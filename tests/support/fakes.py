"""In-memory fakes of the ports, for the handler unit tests. Same contracts as the adapters."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import AlreadyInProgressError, TransientError
from shared.model_registry import (
    DeleteResult,
    ModelArtifact,
    ModelSummary,
    ObjectRef,
    RecordResult,
    latest_live_version,
    summarize_models,
)
from shared.payloads.storage import StorageChange, StorageObjectEvent
from shared.ports import StoredObject


def finalized_event(bucket: str, name: str, generation: int, size: int, **fields: Any) -> StorageObjectEvent:
    """The finalize event GCS sends for an object version, as the handlers' tests deliver it."""
    return StorageObjectEvent(
        event_id=f"evt-{name}-{generation}",
        change=StorageChange.FINALIZED,
        event_time=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        bucket=bucket,
        name=name,
        generation=generation,
        size=size,
        **fields,
    )


class FakeObjectStore:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[StoredObject, bytes]] = {}
        self.reads: list[tuple[str, str, int | None]] = []
        self.ranges: list[tuple[str, str, int | None, int, int]] = []

    def put(self, bucket: str, name: str, data: bytes, *, content_type=None, metadata=None, generation=None):
        previous = self.objects.get((bucket, name))
        gen = generation or ((previous[0].generation + 1) if previous else 1_700_000_000_000_000)
        obj = StoredObject(bucket, name, gen, len(data), content_type=content_type, metadata=dict(metadata or {}))
        self.objects[(bucket, name)] = (obj, data)
        return obj

    def read_head(self, bucket: str, name: str, generation: int | None, length: int) -> bytes | None:
        self.reads.append((bucket, name, generation))
        found = self.objects.get((bucket, name))
        if found is None or (generation is not None and found[0].generation != generation):
            return None
        return found[1][:length]

    def read_range(self, bucket: str, name: str, generation: int | None, start: int, length: int) -> bytes | None:
        self.ranges.append((bucket, name, generation, start, length))
        found = self.objects.get((bucket, name))
        if found is None or (generation is not None and found[0].generation != generation):
            return None
        return found[1][start : start + length] if start >= 0 and length > 0 else b""

    def read(self, bucket: str, name: str) -> bytes | None:
        found = self.objects.get((bucket, name))
        return found[1] if found else None

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[StoredObject]:
        for (b, name), (obj, _) in sorted(self.objects.items()):
            if b == bucket and name.startswith(prefix):
                yield obj

    def list_buckets(self) -> list[str]:
        return sorted({b for b, _ in self.objects})


class FakeRegistryStore:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def record(self, artifact: ModelArtifact) -> RecordResult:
        with self._lock:
            created = artifact.record_key not in self.rows
            if created:
                self.rows[artifact.record_key] = artifact.to_row()
            same_object = [
                r
                for r in self.rows.values()
                if (r["bucket"], r["object_name"]) == (artifact.ref.bucket, artifact.ref.name)
            ]
            newest = max(r["generation"] for r in same_object)
            for row in same_object:
                if row["generation"] < newest:
                    row["superseded_by_generation"] = newest
            return RecordResult(created, self._latest(artifact.env, artifact.model))

    def mark_deleted(self, ref: ObjectRef, deleted_at: datetime) -> DeleteResult:
        with self._lock:
            row = self.rows.get(ref.key)
            if row is None:
                return DeleteResult(False, None)
            row["deleted_at"] = row["deleted_at"] or deleted_at.isoformat()
            return DeleteResult(True, self._latest(row["env"], row["model"]))

    def known_keys(self, bucket: str) -> set[str]:
        return {k for k, r in self.rows.items() if r["bucket"] == bucket}

    def undeleted_keys(self, bucket: str) -> set[str]:
        return {k for k, r in self.rows.items() if r["bucket"] == bucket and not r["deleted_at"]}

    def list_models(self, env: str | None = None) -> list[ModelSummary]:
        return summarize_models([r for r in self.rows.values() if env in (None, r["env"])])

    def artifacts(self, model: str, env: str | None = None) -> list[dict[str, Any]]:
        rows = [r for r in self.rows.values() if r["model"] == model and env in (None, r["env"])]
        return sorted(rows, key=lambda r: (r["env"], r["version"], r["path"], r["generation"]))

    def _of(self, env: str, model: str) -> list[dict[str, Any]]:
        return [r for r in self.rows.values() if (r["env"], r["model"]) == (env, model)]

    def _latest(self, env: str, model: str) -> int | None:
        return latest_live_version(self._of(env, model))


class FakeIdempotencyStore:
    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, *, now: datetime, expires_in_s: float) -> dict[str, Any] | None:
        with self._lock:
            entry = self.entries.get(key)
            if entry and entry["status"] == "completed":
                return entry["result"]
            if entry and entry["expires_at"] > now:
                raise AlreadyInProgressError(key)
            self.entries[key] = {"status": "in_progress", "expires_at": now + timedelta(seconds=expires_in_s)}
            return None

    def complete(self, key: str, result: dict[str, Any], *, now: datetime) -> None:
        with self._lock:
            self.entries[key] = {"status": "completed", "result": result, "expires_at": now}

    def release(self, key: str) -> None:
        with self._lock:
            if self.entries.get(key, {}).get("status") == "in_progress":
                del self.entries[key]


class FakeAlertLedger:
    def __init__(self) -> None:
        self.highest_by_scope: dict[str, float] = {}

    def highest(self, scope: str) -> float | None:
        return self.highest_by_scope.get(scope)

    def raise_to(self, scope: str, threshold: float, *, now: datetime) -> float:
        self.highest_by_scope[scope] = max(threshold, self.highest_by_scope.get(scope, threshold))
        return self.highest_by_scope[scope]


class FakeNotifier:
    """Records payloads; `fail_next` makes the next posts raise as an unreachable Slack would."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.failures = 0

    def post(self, payload: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise TransientError("Slack answered 500 after retries")
        self.posts.append(payload)


class FakeDriftRunStore:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.history_failure: Exception | None = None  # raised by history(), to test a store that cannot be read

    def record(self, row: dict[str, Any]) -> bool:
        created = row["run_key"] not in self.rows
        self.rows.setdefault(row["run_key"], dict(row))
        return created

    def latest(self, model: str, env: str) -> dict[str, Any] | None:
        found = self.history(model, env, limit=1)
        return found[0] if found else None

    def history(self, model: str, env: str, limit: int = 20) -> list[dict[str, Any]]:
        if self.history_failure is not None:
            raise self.history_failure
        rows = [r for r in self.rows.values() if (r["model"], r["env"]) == (model, env)]
        return sorted(rows, key=lambda r: r["started_at"], reverse=True)[:limit]


@dataclass
class FakeSettings:
    bucket_pattern: str = "ml-models-{env}"
    claim_ttl_s: float = 600.0
    budget_mention: str | None = None
    budget_mention_at_percent: float = 100.0
    drift_logs_bucket: str = "ml-drift-logs-{env}"
    gate_policy: str | None = None  # the manifest's (DEFAULT_POLICY): auc required, dev auto-promotes


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now = self.now + timedelta(seconds=seconds)


@dataclass
class FakeDeps:
    settings: FakeSettings = field(default_factory=FakeSettings)
    objects: FakeObjectStore = field(default_factory=FakeObjectStore)
    registry: FakeRegistryStore = field(default_factory=FakeRegistryStore)
    idempotency: FakeIdempotencyStore = field(default_factory=FakeIdempotencyStore)
    clock: FakeClock = field(default_factory=FakeClock)
    alert_ledger: FakeAlertLedger = field(default_factory=FakeAlertLedger)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)
    drift_runs: FakeDriftRunStore = field(default_factory=FakeDriftRunStore)
    feature_profiler: Any = None  # a real ParquetProfiler over test files, where a test needs one
