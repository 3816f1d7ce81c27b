"""Cold start: process start to first 2xx, register_model vs a bare functions-framework function.

Both run side by side in this one script, alternating, so machine noise hits both alike; the figure
to read is the ratio of medians. Two profiles:

- `embedded` (goal: at most 1.5x bare): each register_model run gets a fresh state dir, so its first
  request does the real work (SQLite files created, the event registered).
- `emulators` (goal: at most 2x bare): fake-gcs-server, the Firestore emulator and bqemulator, started
  here as the tests start them, reached with the same clients and code paths as the cloud. Each run
  uploads a fresh object (a new model), so its first request reads the object's head from GCS, claims
  the event in Firestore, checks and appends in BigQuery and writes the Firestore registry.

With `--bundle`, both functions run as they deploy: register_model's deploy bundle (`mlops-events build`),
served by a fresh virtual environment holding only the bundle's pinned distributions (no pyarrow, numpy or
google-cloud-bigquery-storage, which this checkout's dev environment has and google-cloud-bigquery imports
when it finds them), the bare function served by the same environment.

With `--breakdown` (emulators profile), a fresh interpreter runs register_model's first two events in
process and prints where the time goes: imports, the REST clients' import and construction (the path
imports no Google SDK: shared/adapters/google_rest.py), and each backend call, first event then second.

    python benchmarks/cold_start.py [--runs 9] [--profile embedded|emulators|both] [--bundle] [--breakdown]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # runs as a script from a checkout

from tooling.local_server import start_function  # noqa: E402

FIXTURE = REPO / "events" / "storage" / "05-finalized-onnx-v3.structured.json"
BARE = (REPO / "benchmarks" / "_bare" / "main.py", "hello")
REGISTER_MODEL = (REPO / "functions" / "register_model.py", "register_model")
GOALS = {"embedded": 1.5, "emulators": 2.0}
PROJECT = "mlops-events-bench"
ENV = "bench"  # the bucket ml-models-bench
_HEADER = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
SAFETENSORS = len(_HEADER).to_bytes(8, "little") + _HEADER + b"\x00\x00\x80\x3f"


def with_bytecode(env: dict[str, str]) -> dict[str, str]:
    """A deployed function loads bytecode (a bundle carries it). With PYTHONDONTWRITEBYTECODE set where this
    runs, every run from the checkout would compile its modules again, which no deploy does: run 0 writes it."""
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def first_2xx(target: tuple[Path, str], env: dict[str, str], body: bytes, python: str = sys.executable) -> float:
    source, name = target
    env = with_bytecode(env)
    started = time.perf_counter()
    process, port = start_function(source, name, env=env, stdout=subprocess.PIPE, python=python, cwd=source.parent)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": "application/cloudevents+json"}
    )
    try:
        while time.perf_counter() - started < 60:
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    if 200 <= response.status < 300:
                        elapsed = time.perf_counter() - started
                        break
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.005)
        else:
            raise RuntimeError(f"{name} gave no 2xx within 60 s")
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode(errors="replace")
    if name != "hello" and '"outcome": "applied"' not in output:  # a fast 2xx that did nothing proves nothing
        raise RuntimeError(f"{name} did not register the event:\n{output[-3000:]}")
    return elapsed


# -- embedded --------------------------------------------------------------------------------------
@contextmanager
def embedded() -> Iterator[Callable[[int], tuple[dict[str, str], bytes]]]:
    body = FIXTURE.read_bytes()
    scratch = Path(tempfile.mkdtemp(prefix="cold-start-"))

    def prepare(run: int) -> tuple[dict[str, str], bytes]:
        env = {**os.environ, "MLOPS_EVENTS_PROFILE": "embedded", "MLOPS_EVENTS_STATE_DIR": str(scratch / str(run))}
        return env, body

    try:
        yield prepare
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# -- emulators -------------------------------------------------------------------------------------
@contextmanager
def emulators() -> Iterator[Callable[[int], tuple[dict[str, str], bytes]]]:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery
    from google.cloud import storage as gcs  # type: ignore[attr-defined]  # untyped, in a typed namespace

    from shared.adapters.bigquery_registry import BigQueryRegistryTable
    from tooling.fixture_factory import storage_cloud_event, storage_object_data
    from tooling.localcloud import emulators as local

    running: dict[str, local.Emulator] = {}
    scratch = Path(tempfile.mkdtemp(prefix="cold-start-emulators-"))
    try:
        local.start_together(
            {
                "firestore": lambda: local.start_firestore(PROJECT),
                "gcs": local.start_fake_gcs,
                "bigquery": lambda: local.start_bqemulator(PROJECT),
            },
            running.__setitem__,
        )
        client_env = {k: v for emulator in running.values() for k, v in emulator.env.items()}
        anonymous = AnonymousCredentials()
        storage = gcs.Client(
            project=PROJECT,
            credentials=anonymous,
            client_options=ClientOptions(api_endpoint=running["gcs"].url),
        )
        bq = bigquery.Client(
            project=PROJECT,
            credentials=anonymous,
            client_options=ClientOptions(api_endpoint=running["bigquery"].url),
        )
        dataset = f"ml_registry_{uuid.uuid4().hex[:8]}"
        BigQueryRegistryTable(bq, f"{PROJECT}.{dataset}.models").ensure_table()  # as provision.py does
        bucket = storage.create_bucket(f"ml-models-{ENV}")
        base = {
            **os.environ,
            **client_env,
            "MLOPS_EVENTS_PROFILE": "emulators",
            "MLOPS_EVENTS_GCP_PROJECT": PROJECT,
            "MLOPS_EVENTS_BIGQUERY_DATASET": dataset,
            "MLOPS_EVENTS_STATE_DIR": str(scratch),
        }

        def prepare(run: int) -> tuple[dict[str, str], bytes]:
            """A fresh upload (a new model, so fresh registry state) and the event GCS sends for it."""
            name = f"cold-{run}-{uuid.uuid4().hex[:6]}/v1/model.safetensors"
            blob = bucket.blob(name)
            blob.upload_from_string(SAFETENSORS, content_type="application/octet-stream")
            blob.reload()
            data = storage_object_data(
                bucket.name, name, generation=blob.generation, content=SAFETENSORS, time_created=datetime.now(UTC)
            )
            event = storage_cloud_event("google.cloud.storage.object.v1.finalized", data, event_id=uuid.uuid4().hex)
            return dict(base), json.dumps(event).encode()

        yield prepare
    finally:
        for emulator in running.values():
            emulator.stop()
        shutil.rmtree(scratch, ignore_errors=True)


PROFILES: dict[str, Callable[[], Any]] = {"embedded": embedded, "emulators": emulators}

# Run in a fresh interpreter: argv[1] the entry module's file, stdin two events (JSON lines).
_BREAKDOWN = r"""
import importlib.util, json, sys, time
T = time.perf_counter
marks = []
def mark(label, started):
    marks.append((label, (T() - started) * 1000))
started = T(); import functions_framework; mark("import functions_framework (bare pays it too)", started)
started = T()
spec = importlib.util.spec_from_file_location("entry", sys.argv[1]); entry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(entry); mark("import register_model (our modules)", started)
from cloudevents.http import CloudEvent
from handlers import register_model as use_case
from shared.deps import current_deps
from shared.payloads.cloudevent import envelope_from_cloud_event
from shared.payloads.storage import parse_storage_event
deps = current_deps()
started = T(); deps.firestore_client(), deps.google_api("storage"), deps.google_api("bigquery")
mark("REST clients (Firestore, GCS, BigQuery): import + construct", started)
started = T(); deps.idempotency, deps.objects, deps.registry; mark("adapters: import + construct", started)
def timed(obj, name, label):
    call = getattr(obj, name)
    def wrapper(*args, **kwargs):
        started = T()
        try:
            return call(*args, **kwargs)
        finally:
            mark(f"  {label}", started)
    setattr(obj, name, wrapper)
timed(deps.idempotency, "claim", "firestore: claim")
timed(deps.objects, "read_head", "gcs: read head")
timed(deps.objects, "read_range", "gcs: read range")
timed(deps.registry.secondary, "append_registration", "bigquery: append")
timed(deps.registry.primary, "record", "firestore: registry record")
timed(deps.idempotency, "complete", "firestore: complete")
for number, line in enumerate(sys.stdin):
    document = json.loads(line)
    event = CloudEvent({k: v for k, v in document.items() if k != "data"}, document["data"])
    marks.append((f"event {number + 1}", None))
    started = T(); outcome = use_case.handle(parse_storage_event(envelope_from_cloud_event(event)), deps)
    mark(f"  total: {outcome.status}", started)
for label, ms in marks:
    print(f"  {label}" if ms is None else f"  {ms:7.1f} ms  {label}")
sdks = ("google.cloud.firestore", "google.cloud.storage", "google.cloud.bigquery", "grpc")
sdks = [m for m in sdks if m in sys.modules]
print(f"  Google SDK modules loaded: {', '.join(sdks) or 'none'}")
"""


def breakdown(bundle: tuple[tuple[Path, str], str] | None) -> None:
    target, python = bundle or (REGISTER_MODEL, sys.executable)
    source = target[0]
    with emulators() as prepare:
        first_2xx(target, *prepare(0), python)  # warms the emulators (a JVM's first request), as run 0 does
        env, first = prepare(1)
        _, second = prepare(2)
        done = subprocess.run(
            [python, "-c", _BREAKDOWN, str(source)],
            input=first + b"\n" + second + b"\n",
            capture_output=True,
            env=with_bytecode(env),
            cwd=source.parent,
            timeout=120,
        )
    if done.returncode:
        raise RuntimeError(done.stderr.decode(errors="replace")[-3000:])
    print(f"[emulators{' bundle' if bundle else ''}: where register_model's first events go]")
    print(done.stdout.decode(), end="")


def bundle_environment(scratch: Path) -> tuple[tuple[Path, str], str]:
    """register_model's deploy bundle and an interpreter whose environment holds only its pinned distributions."""
    from tooling.bundle import build_bundle
    from tooling.manifest import function_named

    build_bundle(function_named("register_model"), scratch / "dist")
    folder = scratch / "dist" / "register_model"
    venv = scratch / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
    subprocess.run([*install, "-r", str(folder / "requirements.txt")], check=True)
    return (folder / "main.py", "register_model"), python


def measure(profile: str, runs: int, bundle: tuple[tuple[Path, str], str] | None = None) -> dict[str, Any]:
    times: dict[str, list[float]] = {"bare": [], "register_model": []}
    register_model, python = bundle or (REGISTER_MODEL, sys.executable)
    with PROFILES[profile]() as prepare:
        for run in range(runs + 1):  # run 0 warms the OS file cache and the bytecode caches
            env, body = prepare(run)
            bare_env = {k: v for k, v in env.items() if not k.startswith("MLOPS_EVENTS_")}
            for name, target, run_env in (("bare", BARE, bare_env), ("register_model", register_model, env)):
                elapsed = first_2xx(target, run_env, body, python)
                if run:
                    times[name].append(elapsed)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"[{profile}{' bundle' if bundle else ''}]")
    for name, values in times.items():
        print(
            f"  {name:<16} median {medians[name] * 1000:7.1f} ms  min {min(values) * 1000:7.1f} ms  "
            f"max {max(values) * 1000:7.1f} ms  ({len(values)} runs)"
        )
    ratio = medians["register_model"] / medians["bare"]
    print(f"  ratio register_model / bare = {ratio:.2f} (goal <= {GOALS[profile]})")
    return {"medians_ms": {k: round(v * 1000, 1) for k, v in medians.items()}, "ratio": round(ratio, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--profile", choices=["embedded", "emulators", "both"], default="both")
    parser.add_argument("--bundle", action="store_true", help="serve the deploy bundle from its own environment")
    parser.add_argument("--breakdown", action="store_true", help="where register_model's first events go")
    args = parser.parse_args()
    profiles = list(PROFILES) if args.profile == "both" else [args.profile]
    scratch = Path(tempfile.mkdtemp(prefix="cold-start-bundle-"))
    try:
        bundle = bundle_environment(scratch) if args.bundle else None
        if args.breakdown:
            breakdown(bundle)
            return
        results = {profile: measure(profile, args.runs, bundle) for profile in profiles}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"bundle": args.bundle, "uptime": os.getloadavg(), **results}))


if __name__ == "__main__":
    main()
