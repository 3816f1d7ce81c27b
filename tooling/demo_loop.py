"""The demo's last act, the loop the platform exists for, on the embedded profile and in this process:

1. the inference service serves fraud-detector's `champion` with prediction capture on, and answers
   traffic like the drift sample's reference, then traffic like its shifted current data;
2. the drift job (the drift_report function, as its Pub/Sub event reaches it) reads what was served and
   reports the features, the predictions and the confidence that moved, and the versions that answered;
3. a retrained version is uploaded with its metrics.json: register_model registers it, evaluate_model's
   quality gate compares it with the champion and, in dev, makes it candidate and champion;
4. the running service follows the alias to the new version without a restart, and back again when the
   alias is moved back: a rollback is an alias move.

Every event goes through the functions' real entry points (the demo's Replayer), as Eventarc and Cloud
Scheduler would deliver it. No server, no network: the service runs behind FastAPI's TestClient.
"""

from __future__ import annotations

import functools
import json
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.adapters.local_object_store import LocalObjectStore
from tooling.fixture_factory import pubsub_cloud_event
from tooling.manifest import FunctionSpec, function_named, load_manifest

if TYPE_CHECKING:
    from tooling.replay import Replayer

MODEL = "fraud-detector"
ENV = "dev"
MODELS_BUCKET = f"ml-models-{ENV}"
ALIAS = "champion"
SERVED_VERSION = 3  # the version the demo's inference section registers (tooling/demo.serve_demo_model)
ROWS_PER_PHASE = 250  # rows served like the reference, then as many like the shifted current data
ROWS_PER_REQUEST = 50
DRIFT_JOB = "drift-report-fraud-detector-served"
RELOAD_S = 0.1  # the service asks the registry this often where its alias points
WAIT_S = 20.0  # the longest the loop waits for the capture to land or the service to follow its alias
RETRAIN = {"seed": 7, "epochs": 24}  # the same data as v3, trained three times longer


@functools.cache
def _function(name: str) -> FunctionSpec:
    """The manifest is read once per run (a YAML parse costs ~0.2 s)."""
    return function_named(name, load_manifest())


class LoopFailed(RuntimeError):
    """A step of the loop did not do what it shows (a rejected event, an alias that did not move)."""


@dataclass(frozen=True)
class ServedAnswer:
    version: int
    probability: float


@dataclass(frozen=True)
class DriftSummary:
    detail: str  # the function's outcome line
    drifted_features: list[str]  # input features only
    prediction_drift: list[str]  # `prediction drift: ...` entries that drifted
    confidence_drift: list[str]
    versions: list[str]  # the model versions that answered in the window
    current_rows: int
    report: Path  # the HTML report in the local drift-logs bucket


@dataclass(frozen=True)
class GateStep:
    version: int
    detail: str  # evaluate_model's outcome line
    passed: bool
    comparisons: list[dict[str, Any]]
    aliases: dict[str, int]  # where candidate and champion point after the decision


@dataclass(frozen=True)
class Loop:
    first_gate: GateStep  # the served version's own metrics.json through the gate
    served: ServedAnswer  # the champion's first answer (its first row), before the loop moves anything
    captured_rows: int  # rows of the two phases found in the captured Parquet files
    capture_files: list[Path]
    drift: DriftSummary
    new_gate: GateStep
    after_gate: ServedAnswer  # the same running service, once it followed the alias
    rollback: str  # the alias move, as `registry alias set` prints it
    after_rollback: ServedAnswer


def run_loop(state_dir: Path, buckets_dir: Path, replayer: Replayer) -> Loop | None:
    """The loop on the embedded profile (the caller has applied it). None when torch is not installed.
    Needs the demo model registered as fraud-detector v3 (`tooling.demo.serve_demo_model`)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    with warnings.catch_warnings():  # Starlette's TestClient suggests httpx2; httpx is what FastAPI documents
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
        from fastapi.testclient import TestClient

    from mlops_inference.app import create_app
    from mlops_inference.main import build_service
    from mlops_inference.settings import ServiceSettings
    from shared.deps import current_deps

    objects = LocalObjectStore(buckets_dir)
    registry = current_deps().registry
    spec = json.loads((state_dir / "demo-model" / "model.json").read_text())
    first_gate = _upload(objects, replayer, SERVED_VERSION, {"metrics.json": _metrics_file(spec)})
    before = first_gate.aliases.get(ALIAS)
    if before is None:
        raise LoopFailed(f"{ENV}/{MODEL} has no {ALIAS} after the gate: {first_gate.detail}")

    settings = ServiceSettings(
        model_name=MODEL,
        env=ENV,
        model_alias=ALIAS,
        reload_s=RELOAD_S,
        capture_rate=1.0,
        capture_sinks=("parquet",),
        capture_flush_s=0.05,
    )
    with TestClient(create_app(build_service(settings))) as client:
        t0 = datetime.now(UTC)
        answers = [_predict(client, rows) for rows in _chunks(_sample_rows(buckets_dir, "reference"))]
        served = ServedAnswer(int(answers[0]["version"]), float(answers[0]["predictions"][0]))
        t1 = datetime.now(UTC)
        for rows in _chunks(_sample_rows(buckets_dir, "current")):
            _predict(client, rows)
        t2 = datetime.now(UTC)
        files, captured = _wait_for_captures(client, buckets_dir, t0, t2, 2 * ROWS_PER_PHASE)
        # The current window is the shifted traffic; the drift job compares the outputs with the window of
        # the same length just before it, which holds the traffic like the reference.
        span = max(t1 - t0, t2 - t1) + timedelta(milliseconds=1)
        drift = _drift_run(replayer, buckets_dir, start=t1, end=t1 + span)

        retrained = _retrained_files(state_dir)
        version = _next_version(registry)
        new_gate = _upload(objects, replayer, version, retrained)
        if not new_gate.passed or new_gate.aliases.get(ALIAS) != version:
            raise LoopFailed(f"v{version} did not become {ALIAS}: {new_gate.detail}")
        after_gate = _wait_for_version(client, version)

        moved = registry.set_alias(MODEL, ENV, ALIAS, before, by="demo", at=datetime.now(UTC))
        move = moved.current
        rollback = f"{ENV}/{MODEL} {ALIAS}: v{move.previous_version} -> v{move.version} (by {move.moved_by})"
        after_rollback = _wait_for_version(client, before)
    return Loop(
        first_gate=first_gate,
        served=served,
        captured_rows=captured,
        capture_files=files,
        drift=drift,
        new_gate=new_gate,
        after_gate=after_gate,
        rollback=rollback,
        after_rollback=after_rollback,
    )


def _metrics_file(spec: dict[str, Any]) -> bytes:
    """The metrics.json a training pipeline uploads beside the model: its held-out metrics."""
    return (json.dumps(spec["metrics"], indent=2, sort_keys=True) + "\n").encode()


def _retrained_files(state_dir: Path) -> dict[str, bytes]:
    """The retrained model (once per state dir: ~1 s, deterministic) and its metrics.json, last as a
    pipeline uploads it: the gate reads the version's files when its metrics land."""
    import mlops_inference.train as train

    folder = state_dir / "demo-model-retrained"
    if not all((folder / name).is_file() for name in ("model.json", "model.pt")):
        train.save(train.fit(seed=RETRAIN["seed"], epochs=RETRAIN["epochs"]), folder, seed=RETRAIN["seed"])
    spec = json.loads((folder / "model.json").read_text())
    files = {name: (folder / name).read_bytes() for name in ("model.json", "model.pt")}
    return {**files, "metrics.json": _metrics_file(spec)}


def _upload(objects: LocalObjectStore, replayer: Replayer, version: int, files: dict[str, bytes]) -> GateStep:
    """Each file into the models bucket, its finalize event delivered to both functions its bucket triggers
    (Eventarc delivers every upload to register_model and to evaluate_model)."""
    from shared.deps import current_deps
    from tooling.model_publish import publish_version

    results = publish_version(
        objects,
        replayer,
        bucket=MODELS_BUCKET,
        model=MODEL,
        version=version,
        files=files,
        uploader="demo",
        functions=[_function("register_model"), _function("evaluate_model")],
    )
    for result in results:
        if result.outcome not in {"applied", "duplicate", "ignored"}:
            raise LoopFailed(f"{result.function} {result.outcome} {result.event}: {result.detail}")
    gate = next((r for r in results if r.function == "evaluate_model" and r.event.endswith("/metrics.json")), None)
    if gate is None:
        raise LoopFailed(f"no metrics.json uploaded for v{version}")
    registry = current_deps().registry
    decisions = [d for d in registry.decisions(MODEL, ENV) if d.version == version]
    aliases = {move.alias: move.version for move in registry.aliases(MODEL, ENV)}
    decision = decisions[-1] if decisions else None
    return GateStep(
        version=version,
        detail=gate.detail,
        passed=bool(decision and decision.passed),
        comparisons=list(decision.comparisons) if decision else [],
        aliases={name: aliases[name] for name in ("candidate", ALIAS) if name in aliases},
    )


def _next_version(registry) -> int:
    from shared.model_registry import latest_live_version

    return (latest_live_version(registry.artifacts(MODEL, ENV)) or SERVED_VERSION) + 1


def _sample_rows(buckets_dir: Path, side: str) -> list[dict[str, Any]]:
    """The first rows of the drift sample's `reference` (like the training data) or `current` (amounts up,
    more US and BR transactions), as request rows."""
    import pyarrow.parquet as pq

    path = buckets_dir / "ml-drift-dev" / MODEL / side / "part-0.parquet"
    table = pq.read_table(path, columns=["amount", "merchant_risk", "hour", "country", "device"])
    return table.slice(0, ROWS_PER_PHASE).to_pylist()


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i : i + ROWS_PER_REQUEST] for i in range(0, len(rows), ROWS_PER_REQUEST)]


def _predict(client, rows: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/predict", json={"rows": rows})
    if response.status_code != 200:
        raise LoopFailed(f"POST /predict answered {response.status_code}: {response.text[:300]}")
    return response.json()


def _answer(client, row: dict[str, Any]) -> ServedAnswer:
    answer = _predict(client, [row])
    return ServedAnswer(int(answer["version"]), float(answer["predictions"][0]))


def _wait_for_version(client, version: int) -> ServedAnswer:
    """The service's reload thread picks the alias's move up within RELOAD_S (plus the model's load)."""
    deadline = time.monotonic() + WAIT_S
    probe = {"amount": 62.5, "merchant_risk": 0.26, "hour": 5, "country": "IT", "device": "web"}
    while True:
        answer = _answer(client, probe)
        if answer.version == version:
            return answer
        if time.monotonic() > deadline:
            raise LoopFailed(f"the service still answers with v{answer.version}, not v{version}, after {WAIT_S:.0f} s")
        time.sleep(RELOAD_S / 2)


def _wait_for_captures(
    client, buckets_dir: Path, start: datetime, end: datetime, expected: int
) -> tuple[list[Path], int]:
    """The capture writer flushes every capture_flush_s: wait until `/metrics` counts every served row as
    written (`inference_captured_rows_total`, counted once the sink's write returned), then count the rows
    served in [start, end] in the predictions bucket's Parquet files (one file per flush)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    deadline = time.monotonic() + WAIT_S
    while (written := _captured_total(client)) < expected:
        if time.monotonic() > deadline:
            raise LoopFailed(f"the capture wrote {written:.0f} of {expected} served rows in {WAIT_S:.0f} s")
        time.sleep(0.02)
    folder = buckets_dir / f"ml-predictions-{ENV}" / MODEL
    files, rows = [], 0
    for path in sorted(folder.glob("dt=*/part-*.parquet")):
        served = pq.read_table(path, columns=["served_at"])["served_at"]
        inside = pc.sum(pc.and_(pc.greater_equal(served, start), pc.less_equal(served, end))).as_py() or 0
        if inside:
            files.append(path)
            rows += inside
    if rows != expected:
        raise LoopFailed(f"{rows} rows of the {expected} served are in {folder}")
    return files, rows


def _captured_total(client) -> float:
    """Rows written to the Parquet sink (the loop's only one)."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('inference_captured_rows_total{sink="parquet"} '):
            return float(line.split()[1])
    return 0.0


def _drift_run(replayer: Replayer, buckets_dir: Path, *, start: datetime, end: datetime) -> DriftSummary:
    """The drift job on the captured window, delivered to drift_report as Cloud Scheduler publishes it."""
    from shared.deps import current_deps
    from tooling.delivery import delivery_from_document

    body = {
        "model": MODEL,
        "env": ENV,
        "reference": {"uri": f"gs://ml-drift-{ENV}/{MODEL}/reference/*.parquet"},
        "current": {
            "uri": f"gs://ml-predictions-{ENV}/{MODEL}/dt=*/*.parquet",
            "timestamp_column": "served_at",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "captured": True,
        },
    }
    now = datetime.now(UTC)
    attributes = {"scheduler_job": DRIFT_JOB, "schedule_time": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    spec = _function("drift_report")
    event = pubsub_cloud_event(body, topic=spec.trigger["topic"], attributes=attributes, time=now)
    result = replayer.deliver(spec, delivery_from_document(event), label=DRIFT_JOB)
    if result.outcome != "applied":
        raise LoopFailed(f"drift_report {result.outcome}: {result.detail}")
    row = current_deps().drift_runs.latest(MODEL, ENV) or {}
    drifted = list(row.get("drifted_features") or [])
    uri = str(row.get("report_uri", ""))
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return DriftSummary(
        detail=result.detail,
        drifted_features=[f for f in drifted if ":" not in f],
        prediction_drift=[f for f in drifted if f.startswith("prediction drift:")],
        confidence_drift=[f for f in drifted if f.startswith("confidence drift:")],
        versions=_versions(row),
        current_rows=int(row.get("current_rows") or 0),
        report=buckets_dir / bucket / name,
    )


def _versions(row: dict[str, Any]) -> list[str]:
    """The versions named in the run's `current` column (`...; model versions served: v3; ...`)."""
    current = str(row.get("current", ""))
    marker = "model versions served: "
    if marker not in current:
        return []
    return [v.strip() for v in current.split(marker, 1)[1].split(";", 1)[0].split(",") if v.strip()]
