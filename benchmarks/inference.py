"""Inference over HTTP, side by side: the service with dynamic batching, and the same app with batching
off (each request its own forward pass, what a user would write), at 1, 8 and 32 concurrent clients.

Both servers run as uvicorn processes on loopback, registered model and all (embedded profile: the
model is trained, uploaded and registered through register_model first). The clients are a minimal
keep-alive HTTP/1.1 client on asyncio in this process (httpx would spend more CPU than the server on
a 2-core machine). For each concurrency level the two variants are measured one after the other, each
for `--seconds` after a warm-up, and the script prints throughput, p50 and p99 latency of each.

    python benchmarks/inference.py [--model demo|wide] [--clients 1,8,32] [--seconds 8]

`demo` is the shipped demo model (a 19 KB MLP: its forward pass costs microseconds, HTTP dominates);
`wide` is a heavier MLP of the same features (3 hidden layers of 2048: 34 MB of weights, which one row
reads whole and 32 rows read once), to see what batching saves when the model, not the protocol, is
the work.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = "fraud-detector"
WIDE = 2048  # hidden width of the `wide` model: 8.4M weights (34 MB), a few ms per row read from memory


def prepare(state_dir: Path, kind: str) -> list[dict]:
    """Train (or build) the model, register it in a fresh embedded state; return sample rows."""
    os.environ["MLOPS_EVENTS_PROFILE"] = "embedded"
    os.environ["MLOPS_EVENTS_STATE_DIR"] = str(state_dir)
    from mlops_inference import train
    from shared.adapters.local_object_store import LocalObjectStore
    from tooling.model_publish import publish_version
    from tooling.replay import Replayer

    folder = state_dir / "trained"
    train.train(folder, rows=5_000)
    files = {name: (folder / name).read_bytes() for name in ("model.json", "model.pt")}
    if kind == "wide":
        files["model.pt"] = _wide_module(json.loads(files["model.json"]))
    results = publish_version(
        LocalObjectStore(state_dir / "buckets"),
        Replayer(),
        bucket="ml-models-dev",
        model=MODEL,
        version=1,
        files=files,
        uploader="benchmark",
    )
    assert all(r.outcome == "applied" for r in results), results
    columns = train.synthetic_transactions(256, seed=3)
    return train.feature_rows(columns)


def _wide_module(spec: dict) -> bytes:
    import torch

    from mlops_inference.model import ModelSpec

    width = ModelSpec.from_json(json.dumps(spec)).input_width
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for size_in, size_out in ((width, WIDE), (WIDE, WIDE), (WIDE, WIDE)):
        layers += [torch.nn.Linear(size_in, size_out), torch.nn.ReLU()]
    module = torch.nn.Sequential(*layers, torch.nn.Linear(WIDE, 1)).eval()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    return buffer.getvalue()


def start_server(state_dir: Path, port: int, batching: bool) -> subprocess.Popen:
    env = {
        **os.environ,
        "MLOPS_EVENTS_PROFILE": "embedded",
        "MLOPS_EVENTS_STATE_DIR": str(state_dir),
        "MODEL_NAME": MODEL,
        "ENV": "dev",
        "INFERENCE_BATCHING": "on" if batching else "off",
        "INFERENCE_RELOAD_S": "3600",
    }
    # The container's command: uvicorn with the service's limits on request heads (mlops_inference.server).
    argv = [sys.executable, "-m", "mlops_inference.server", "--port", str(port)]
    argv += ["--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not become ready: {process.stderr.read().decode()[-2000:]}")


async def _client(port: int, body: bytes, until: float, latencies: list[float], warm_until: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    errors = 0
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if b" 200 " not in status_line:
                errors += 1
            elif started >= warm_until:
                latencies.append(time.perf_counter() - started)
    finally:
        writer.close()
    return errors


async def measure(port: int, rows: list[dict], clients: int, seconds: float, warmup: float = 1.0) -> dict:
    latencies: list[float] = []
    start = time.perf_counter()
    warm_until, until = start + warmup, start + warmup + seconds
    bodies = [json.dumps({"rows": [rows[i % len(rows)]]}).encode() for i in range(clients)]
    errors = await asyncio.gather(*(_client(port, bodies[i], until, latencies, warm_until) for i in range(clients)))
    latencies.sort()
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": sum(errors),
        "throughput": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["demo", "wide"], default="demo")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument(
        "--capture", action="store_true", help="prediction capture on vs off (batched service, tabular model)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="--capture: alternating on/off rounds per level")
    args = parser.parse_args()
    if args.capture:
        capture_benchmark(args.model, [int(c) for c in args.clients.split(",")], args.seconds, args.rounds)
        return
    from tooling.local_server import free_port

    state_dir = Path(tempfile.mkdtemp(prefix="inference-bench-"))
    rows = prepare(state_dir, args.model)
    ports = {"batched": free_port(), "unbatched": free_port()}
    servers = {name: start_server(state_dir, port, name == "batched") for name, port in ports.items()}
    results = []
    try:
        for clients in (int(c) for c in args.clients.split(",")):
            for name in ("batched", "unbatched"):
                result = asyncio.run(measure(ports[name], rows, clients, args.seconds))
                results.append({"variant": name, **result})
                print(
                    f"{name:<10} {clients:>3} clients  {result['throughput']:8.1f} req/s  "
                    f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}",
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=10)
    by = {(r["variant"], r["clients"]): r for r in results}
    levels = sorted({r["clients"] for r in results})
    print(f"\nmodel {args.model}, {os.cpu_count()} CPUs, {args.seconds:.0f} s per point")
    for clients in levels:
        batched, unbatched = by[("batched", clients)], by[("unbatched", clients)]
        print(
            f"{clients:>3} clients: batched/unbatched throughput {batched['throughput'] / unbatched['throughput']:.2f}x"
            f", batched p99 {batched['p99_ms']:.2f} ms"
        )
    single = by.get(("batched", 1)) or by.get(("unbatched", 1))
    top = max(levels)
    if single and top > 1:
        print(
            f"goal at {top} clients: >= 3x unbatched throughput "
            f"({by[('batched', top)]['throughput'] / by[('unbatched', top)]['throughput']:.2f}x), "
            f"p99 <= 3x the single-client p50 ({by[('batched', top)]['p99_ms'] / single['p50_ms']:.2f}x)"
        )
    print(json.dumps(results))


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def capture_benchmark(model: str, levels: list[int], seconds: float, rounds: int) -> None:
    """Prediction capture (mlops_inference.capture) on vs off: two batched servers of the same model, one
    capturing every row (INFERENCE_CAPTURE_RATE 1, Parquet in the embedded bucket), one not (0), measured
    alternately `rounds` times per level; the ratio of the medians. Goal: capture costs at most 5% of the
    throughput at 32 clients and drops nothing below its queue's bound (INFERENCE_CAPTURE_QUEUE)."""
    from tooling.local_server import free_port

    state_dir = Path(tempfile.mkdtemp(prefix="inference-capture-bench-"))
    rows = prepare(state_dir, model)
    # measure() takes the rows, or (where image models share it) ready request bodies
    takes_bodies = "bodies" in inspect.signature(measure).parameters
    load: list = [json.dumps({"rows": [row]}).encode() for row in rows] if takes_bodies else rows
    ports = {"capture on": free_port(), "capture off": free_port()}
    servers = {}
    try:
        for name, port in ports.items():
            # start_server passes this process's environment on: the one setting that differs
            os.environ["INFERENCE_CAPTURE_RATE"] = "1" if name == "capture on" else "0"
            servers[name] = start_server(state_dir, port, True)
        os.environ.pop("INFERENCE_CAPTURE_RATE")
        by: dict[tuple[str, int], list[dict]] = {}
        for clients in levels:
            for round_ in range(rounds):
                order = ("capture on", "capture off") if round_ % 2 == 0 else ("capture off", "capture on")
                for name in order:
                    result = asyncio.run(measure(ports[name], load, clients, seconds))
                    by.setdefault((name, clients), []).append(result)
                    print(
                        f"{name:<11} {clients:>3} clients  {result['throughput']:8.1f} req/s  "
                        f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}",
                        flush=True,
                    )
        on = ports["capture on"]
        time.sleep(1.5)  # the writer's interval (INFERENCE_CAPTURE_FLUSH_S, 10 s by default) may still hold rows
        queued = _metric(on, "inference_capture_queue_rows")
        captured = _metric(on, "inference_captured_rows_total")
        dropped = _metric(on, "inference_capture_dropped_rows_total")
        served = _metric(on, "inference_rows_total")
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)
    files = list((state_dir / "buckets" / "ml-predictions-dev").rglob("*.parquet"))
    print(f"\nmodel {model}, {os.cpu_count()} CPUs, {seconds:.0f} s per point, {rounds} rounds (median)")
    summary = []
    for clients in levels:
        median_on = statistics.median(r["throughput"] for r in by[("capture on", clients)])
        median_off = statistics.median(r["throughput"] for r in by[("capture off", clients)])
        # Each round's on and off ran back to back: their ratio cancels the machine's slower swings.
        pairs = [
            on_["throughput"] / off_["throughput"]
            for on_, off_ in zip(by[("capture on", clients)], by[("capture off", clients)], strict=True)
        ]
        paired = statistics.median(pairs)
        summary.append({"clients": clients, "on": median_on, "off": median_off, "paired_ratio": paired})
        print(
            f"{clients:>3} clients: capture on/off throughput {median_on:.1f}/{median_off:.1f} req/s"
            f" = {median_on / median_off:.3f}; median of the rounds' ratios {paired:.3f}"
            f" (cost {1 - paired:+.1%}; rounds {', '.join(f'{r:.2f}' for r in pairs)})"
        )
    print(
        f"capture: {served:.0f} rows served, {captured:.0f} written, {queued:.0f} still queued before shutdown,"
        f" {dropped:.0f} dropped; {len(files)} Parquet files after shutdown"
    )
    print(json.dumps({"levels": summary, "served": served, "captured": captured, "dropped": dropped}))


if __name__ == "__main__":
    main()
