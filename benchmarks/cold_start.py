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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "events" / "storage" / "05-finalized-onnx-v3.structured.json"
CANDIDATES = {
    "bare": (REPO / "benchmarks" / "_bare" / "main.py", "hello"),
    "register_model": (REPO / "functions" / "register_model.py", "register_model"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_2xx(source: Path, target: str, state_dir: Path, body: bytes) -> tuple[float, list[str]]:
    port = free_port()
    env = {**os.environ, "MLOPS_EVENTS_STATE_DIR": str(state_dir), "MLOPS_EVENTS_PROFILE": "embedded"}
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        str(source),
        "--target",
        target,
        "--signature-type",
        "cloudevent",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": "application/cloudevents+json"}
    )
    try:
        while time.perf_counter() - started < 30:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if 200 <= response.status < 300:
                        return time.perf_counter() - started, []
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.005)
        raise RuntimeError(f"{target} gave no 2xx within 30 s")
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode(errors="replace")
        if "outcome" in output and '"applied"' not in output and target != "hello":
            raise RuntimeError(f"register_model did not register the event:\n{output[-2000:]}")


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
                elapsed, _ = first_2xx(source, target, scratch / f"{name}-{run}", body)
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
