"""Cold start: process start to first 2xx, register_model vs a bare functions-framework function.

Both run side by side in this one script, alternating, so machine noise hits both alike; the figure
to read is the ratio of medians (goal: at most 1.5). Each register_model run gets a fresh embedded
state dir, so its first request does the real work (SQLite files created, the event registered).

    python benchmarks/cold_start.py [--runs 9]
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # runs as a script from a checkout

from tooling.local_server import start_function  # noqa: E402

FIXTURE = REPO / "events" / "storage" / "05-finalized-onnx-v3.structured.json"
CANDIDATES = {
    "bare": (REPO / "benchmarks" / "_bare" / "main.py", "hello"),
    "register_model": (REPO / "functions" / "register_model.py", "register_model"),
}


def first_2xx(source: Path, target: str, state_dir: Path, body: bytes) -> float:
    env = {**os.environ, "MLOPS_EVENTS_STATE_DIR": str(state_dir), "MLOPS_EVENTS_PROFILE": "embedded"}
    started = time.perf_counter()
    process, port = start_function(source, target, env=env, stdout=subprocess.PIPE)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": "application/cloudevents+json"}
    )
    try:
        while time.perf_counter() - started < 30:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if 200 <= response.status < 300:
                        elapsed = time.perf_counter() - started
                        break
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.005)
        else:
            raise RuntimeError(f"{target} gave no 2xx within 30 s")
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode(errors="replace")
    if target != "hello" and '"outcome": "applied"' not in output:  # a fast 2xx that did nothing proves nothing
        raise RuntimeError(f"{target} did not register the event:\n{output[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    body = FIXTURE.read_bytes()
    times: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    scratch = Path(tempfile.mkdtemp(prefix="cold-start-"))
    try:
        for run in range(args.runs + 1):  # run 0 warms the OS file cache and the bytecode caches
            for name, (source, target) in CANDIDATES.items():
                elapsed = first_2xx(source, target, scratch / f"{name}-{run}", body)
                if run:
                    times[name].append(elapsed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(
            f"{name:<16} median {medians[name] * 1000:7.1f} ms  min {min(values) * 1000:7.1f} ms  "
            f"max {max(values) * 1000:7.1f} ms  ({len(values)} runs)"
        )
    ratio = medians["register_model"] / medians["bare"]
    print(f"ratio register_model / bare = {ratio:.2f} (goal <= 1.5)")
    print(json.dumps({"medians_ms": {k: round(v * 1000, 1) for k, v in medians.items()}, "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
