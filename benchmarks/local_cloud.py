"""`mlops-events up` against its own parts, side by side in one script.

1. Start: time from launch to ready (up.json written) against starting the same emulators alone, in
   parallel as `up` does (their start is the floor: what `up` adds is provisioning and the functions).
2. Registration: time from a model upload (google-cloud-storage, as a user does) to its Firestore pointer,
   against the time register_model itself spent on it (its outcome line's latency_ms). The ratio is what
   the trigger path adds: fake-gcs's notification, the Pub/Sub pull, the Eventarc conversion, HTTP.

Runs alternate where they can; read the ratios of medians, not the absolute times (machines are noisy).

    python benchmarks/local_cloud.py [--runs 3] [--uploads 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.local_cloud import RunningUp  # noqa: E402
from tooling.localcloud import emulators  # noqa: E402

MODEL = REPO / "events" / "objects" / "ml-models-dev" / "churn-model" / "v2" / "model.onnx"


def emulators_alone() -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [
            pool.submit(emulators.start_pubsub, "bench"),
            pool.submit(emulators.start_firestore, "bench"),
            pool.submit(emulators.start_bqemulator, "bench"),
            pool.submit(emulators.start_moto),
        ]
        running = [f.result() for f in futures]
    running.append(emulators.start_fake_gcs())
    elapsed = time.perf_counter() - started
    for emulator in running:
        emulator.stop()
    return elapsed


def up_start(folder: Path) -> tuple[float, RunningUp]:
    started = time.perf_counter()
    running = RunningUp.start(folder, "--no-inference", "--no-schedules")
    return time.perf_counter() - started, running


def registrations(running: RunningUp, uploads: int) -> list[tuple[float, float]]:
    """(upload to Firestore pointer, the function's own latency) per upload, in seconds."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore, storage

    os.environ.update(running.client_env)
    project = running.state["project"]
    gcs = storage.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=running.state["emulators"]["gcs"]["url"]),
    )
    db = firestore.Client(project=project, credentials=AnonymousCredentials())
    content = MODEL.read_bytes()
    measured = []
    for n in range(uploads):
        model = f"bench-{n}"
        pointer = db.collection("models").document(model).collection("envs").document("dev")
        started = time.perf_counter()
        gcs.bucket("ml-models-dev").blob(f"{model}/v1/model.onnx").upload_from_string(content)
        while not pointer.get().exists:
            time.sleep(0.005)
        end_to_end = time.perf_counter() - started
        [event] = running.wait_for(
            lambda events, model=model: [
                e for e in events if e["function"] == "register_model" and f"/{model}/" in e["subject"]
            ],
            "registration",
        )
        measured.append((end_to_end, event["latency_ms"] / 1000))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=10)
    args = parser.parse_args()
    alone, with_up, trips = [], [], []
    for run in range(args.runs):
        alone.append(emulators_alone())
        folder = Path(tempfile.mkdtemp(prefix="bench-up-"))
        elapsed, running = up_start(folder)
        with_up.append(elapsed)
        try:
            if run == 0:
                trips = registrations(running, args.uploads)
        finally:
            running.interrupt()
        print(f"run {run + 1}: emulators alone {alone[-1]:.2f} s, up ready {elapsed:.2f} s", flush=True)
    floor, ready = statistics.median(alone), statistics.median(with_up)
    end_to_end = statistics.median(t for t, _ in trips)
    own = statistics.median(f for _, f in trips)
    result = {
        "start": {
            "emulators_alone_s": round(floor, 2),
            "up_ready_s": round(ready, 2),
            "ratio": round(ready / floor, 2),
        },
        "registration": {
            "upload_to_firestore_s": round(end_to_end, 3),
            "function_own_s": round(own, 3),
            "ratio": round(end_to_end / own, 2),
            "uploads": len(trips),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
