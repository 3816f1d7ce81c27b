"""Inference over HTTP, side by side: the service with dynamic batching, and the same app with batching
off (each request its own forward pass, what a user would write), at 1, 8 and 32 concurrent clients.

Both servers run as uvicorn processes on loopback, registered model and all (embedded profile: the
model is trained, uploaded and registered through register_model first). The clients are a minimal
keep-alive HTTP/1.1 client on asyncio in this process (httpx would spend more CPU than the server on
a 2-core machine). For each concurrency level the two variants are measured one after the other, each
for `--seconds` after a warm-up, and the script prints throughput, p50 and p99 latency of each.

    python benchmarks/inference.py [--model demo|wide|resnet18|ct] [--clients 1,8,32] [--seconds 8]
    python benchmarks/inference.py --capture [--model ...] [--clients 32] [--rounds 5]   # capture on vs off
    python benchmarks/inference.py --gc [--model ...] [--clients 32] [--rounds 5]   # GC threshold vs CPython's

`demo` is the shipped demo model (a 19 KB MLP: its forward pass costs microseconds, HTTP dominates);
`wide` is a heavier MLP of the same features (3 hidden layers of 2048: 34 MB of weights, which one row
reads whole and 32 rows read once), to see what batching saves when the model, not the protocol, is
the work.

Image models (`resnet18`: a ResNet-18 built here, 11.2M parameters, 224x224 RGB, a 10-class head, one
224x224 JPEG per request; `ct`: the demo's CT CNN from tooling/ct_demo.py, trained briefly here, one
128x128 CT DICOM slice per request), each request the same JSON body, `{"images": [{"data": "<base64>",
"filename": ...}]}` (LitServe cannot pass a multipart upload to its worker process: its queue pickles the
form, and starlette's form does not pickle), against the two things a user would run instead, all three
decoding with the service's own `image_decode.decode` so that only the serving differs:

- `service`: mlops_inference.server, dynamic batching on (INFERENCE_MAX_BATCH_SIZE 32, max wait 0 ms);
- `litserve`: LitServe (benchmarks/requirements-inference.txt) with its own batching, max_batch_size 32 and
  batch_timeout 0 (batch what queued, as ours does), decode in `decode_request`;
- `plain`: FastAPI, a sync endpoint decoding and running one forward pass per request (FastAPI's threadpool).

torch's intra-op threads are the service's rule in all three (the CPUs minus one, at least one).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MODEL = "fraud-detector"
IMAGE_MODELS = ("resnet18", "ct")
IMAGE_VARIANTS = ("service", "litserve", "plain")
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


# -- image models ----------------------------------------------------------------------------------------
def _resnet18(classes: int = 10) -> Any:
    """ResNet-18 (basic blocks 2-2-2-2, 64 to 512 channels) in plain torch: no torchvision, no download."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, size_in: int, size_out: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(size_in, size_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(size_out)
            self.conv2 = nn.Conv2d(size_out, size_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(size_out)
            self.down = (
                nn.Sequential(nn.Conv2d(size_in, size_out, 1, stride, bias=False), nn.BatchNorm2d(size_out))
                if stride != 1 or size_in != size_out
                else nn.Identity()
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(out)) + self.down(x))

    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
    ]  # fmt: skip
    size_in = 64
    for size_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(size_in, size_out, stride), Block(size_out, size_out, 1)]
        size_in = size_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    torch.manual_seed(0)
    return nn.Sequential(*layers).eval()


def image_model_files(kind: str) -> tuple[dict[str, bytes], bytes, str]:
    """The model's files (model.json, model.pt2), one file a client uploads, and its name."""
    import numpy as np
    import torch

    if kind == "ct":
        from tooling import ct_demo

        trained = ct_demo.train(trained=64, held_out=32, epochs=1)  # the demo's network; weights don't change cost
        rng = np.random.default_rng(1001)
        return trained.files, ct_demo.dicom_bytes(ct_demo.phantom(rng, True), instance=1), "slice.dcm"
    from PIL import Image

    from mlops_inference.image_spec import IMAGE_FORMAT

    module = _resnet18()
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(module, (torch.zeros(2, 3, 224, 224),), dynamic_shapes=({0: batch},))
    weights = io.BytesIO()
    torch.export.save(program, weights)
    spec = {
        "format": IMAGE_FORMAT,
        "input": {"kind": "image", "size": [224, 224], "channels": 3, "scale": 255,
                  "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "output": {"kind": "multiclass", "name": "category", "labels": [f"class-{i}" for i in range(10)]},
        "weights": "model.pt2",
    }  # fmt: skip
    yy, xx = np.mgrid[:224, :224]
    picture = np.stack([(xx * 255 // 223), (yy * 255 // 223), ((xx + yy) * 255 // 446)], axis=-1).astype(np.uint8)
    picture = np.clip(picture + rng_noise(picture.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=90)
    return {"model.json": json.dumps(spec).encode(), "model.pt2": weights.getvalue()}, buffer.getvalue(), "photo.jpg"


def rng_noise(shape: tuple[int, ...]) -> Any:
    import numpy as np

    return np.random.default_rng(3).integers(-20, 20, shape)


def prepare_image(state_dir: Path, kind: str) -> tuple[bytes, str]:
    """Register the image model in a fresh embedded state, and keep its files for the contenders."""
    os.environ["MLOPS_EVENTS_PROFILE"] = "embedded"
    os.environ["MLOPS_EVENTS_STATE_DIR"] = str(state_dir)
    from shared.adapters.local_object_store import LocalObjectStore
    from tooling.model_publish import publish_version
    from tooling.replay import Replayer

    files, upload, filename = image_model_files(kind)
    folder = state_dir / "model"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
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
    return upload, filename


def image_body(data: bytes, filename: str) -> bytes:
    """The service's JSON form of an upload, which every contender takes."""
    import base64

    return json.dumps({"images": [{"data": base64.b64encode(data).decode(), "filename": filename}]}).encode()


def _image_bytes(body: dict) -> bytes:
    import base64

    return base64.b64decode(body["images"][0]["data"], validate=True)


def _threads() -> int:
    """The service's rule (mlops_inference.model.configure_threads): the CPUs minus one, at least one."""
    return max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) - 1)


def _contender_model(folder: Path) -> Any:
    import torch

    from mlops_inference.model import load_model

    torch.set_num_threads(_threads())
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    return load_model(MODEL, 1, files)


def _answer(prediction: Any) -> dict:
    return {"label": prediction.label, "confidence": prediction.confidence, "probabilities": prediction.probabilities}


def serve_plain(folder: Path, port: int) -> None:
    """What a user writes first: FastAPI, a sync endpoint, one decode and one forward pass per request."""
    import uvicorn
    from fastapi import Body, FastAPI

    from mlops_inference.image_decode import DecodeLimits, decode

    model = _contender_model(folder)
    limits = DecodeLimits(16 << 20, 4096 * 4096)
    app = FastAPI()

    @app.get("/readyz")
    def readyz() -> dict:
        return {"status": "ready"}

    @app.post("/predict")
    def predict(body: dict = Body(...)) -> dict:  # noqa: B008 - FastAPI's way
        tensor = decode(_image_bytes(body), model.spec.input, limits)
        [prediction] = model.predict_images([tensor])
        return {"predictions": [_answer(prediction)]}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_litserve(folder: Path, port: int) -> None:
    """LitServe with its batching on: decode_request per request, one predict per batch, in its worker."""
    import litserve as ls

    os.environ["BENCHMARK_MODEL_FOLDER"] = str(folder)  # for setup(), in LitServe's worker process
    api = LitImageAPI(max_batch_size=32, batch_timeout=0.0)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, healthcheck_path="/readyz")
    server.run(port=port, host="127.0.0.1", log_level="warning", generate_client_file=False)


try:  # LitServe's worker unpickles its API: the class lives at module level (benchmarks/requirements-inference.txt)
    import litserve as _litserve
except ImportError:  # only the `litserve` contender needs it
    _litserve = None

if _litserve is not None:

    class LitImageAPI(_litserve.LitAPI):
        def setup(self, device: str) -> None:
            from mlops_inference.image_decode import DecodeLimits

            self.model = _contender_model(Path(os.environ["BENCHMARK_MODEL_FOLDER"]))
            self.limits = DecodeLimits(16 << 20, 4096 * 4096)

        def decode_request(self, request: dict) -> Any:
            from mlops_inference.image_decode import decode

            return decode(_image_bytes(request), self.model.spec.input, self.limits)

        def batch(self, inputs: list[Any]) -> Any:
            import torch

            return torch.stack(inputs)

        def predict(self, x: Any) -> Any:
            import torch

            with torch.inference_mode():
                return self.model.spec.predictions(self.model.module(x))

        def unbatch(self, output: Any) -> list[Any]:
            return list(output)

        def encode_response(self, output: Any) -> dict:
            return {"predictions": [_answer(output)]}


def start_contender(kind: str, folder: Path, port: int) -> subprocess.Popen:
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--folder", str(folder)]
    argv += ["--port", str(port)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "containers" / "inference")])}
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return _wait_ready(process, port)


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
    return _wait_ready(process, port)


def _wait_ready(process: subprocess.Popen, port: int) -> subprocess.Popen:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    assert process.stderr is not None
    raise RuntimeError(f"server did not become ready: {process.stderr.read().decode()[-2000:]}")


async def _client(
    port: int, body: bytes, until: float, latencies: list[float], warm_until: float, content_type: str
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
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


async def measure(
    port: int,
    bodies: list[bytes],
    clients: int,
    seconds: float,
    warmup: float = 1.0,
    content_type: str = "application/json",
) -> dict:
    latencies: list[float] = []
    start = time.perf_counter()
    warm_until, until = start + warmup, start + warmup + seconds
    errors = await asyncio.gather(
        *(_client(port, bodies[i % len(bodies)], until, latencies, warm_until, content_type) for i in range(clients))
    )
    latencies.sort()
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": sum(errors),
        "throughput": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else math.nan,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else math.nan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["demo", "wide", *IMAGE_MODELS], default="demo")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument(
        "--capture", action="store_true", help="prediction capture on vs off (the batched service, any --model)"
    )
    parser.add_argument(
        "--gc", action="store_true", help="the service's collector threshold vs CPython's (the batched service)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="--capture, --gc: alternating rounds per level")
    parser.add_argument("--variants", help=f"image models: which of {','.join(IMAGE_VARIANTS)} (all)")
    parser.add_argument("--serve", choices=["plain", "litserve"], help=argparse.SUPPRESS)  # a contender's process
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.capture or args.gc:
        kind = "capture" if args.capture else "gc"
        paired_benchmark(kind, args.model, [int(c) for c in args.clients.split(",")], args.seconds, args.rounds)
        return
    if args.serve:
        (serve_plain if args.serve == "plain" else serve_litserve)(args.folder, args.port)
        return
    if args.model in IMAGE_MODELS:
        variants = tuple(args.variants.split(",")) if args.variants else IMAGE_VARIANTS
        image_benchmark(args.model, [int(c) for c in args.clients.split(",")], args.seconds, variants)
        return
    from tooling.local_server import free_port

    state_dir = Path(tempfile.mkdtemp(prefix="inference-bench-"))
    rows = prepare(state_dir, args.model)
    bodies = [json.dumps({"rows": [rows[i % len(rows)]]}).encode() for i in range(32)]
    ports = {"batched": free_port(), "unbatched": free_port()}
    servers = {name: start_server(state_dir, port, name == "batched") for name, port in ports.items()}
    results = []
    try:
        for clients in (int(c) for c in args.clients.split(",")):
            for name in ("batched", "unbatched"):
                result = asyncio.run(measure(ports[name], bodies, clients, args.seconds))
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


def image_benchmark(kind: str, levels: list[int], seconds: float, variants: tuple[str, ...]) -> None:
    from tooling.local_server import free_port

    state_dir = Path(tempfile.mkdtemp(prefix="inference-bench-"))
    started = time.perf_counter()
    upload, filename = prepare_image(state_dir, kind)
    print(f"{kind}: model built and registered in {time.perf_counter() - started:.0f} s, upload {len(upload)} bytes")
    content_type, body = "application/json", image_body(upload, filename)
    results = []
    for name in variants:  # one server at a time: the 2 cores are not shared between contenders
        port = free_port()
        if name == "service":
            server = start_server(state_dir, port, batching=True)
        else:
            server = start_contender(name, state_dir / "model", port)
        try:
            asyncio.run(measure(port, [body], 4, 3.0, warmup=0.0, content_type=content_type))  # warm-up
            for clients in levels:
                result = asyncio.run(measure(port, [body], clients, seconds, content_type=content_type))
                results.append({"variant": name, **result})
                print(
                    f"{name:<9} {clients:>3} clients  {result['throughput']:8.1f} req/s  "
                    f"p50 {result['p50_ms']:8.2f} ms  p99 {result['p99_ms']:8.2f} ms  errors {result['errors']}",
                    flush=True,
                )
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    by = {(r["variant"], r["clients"]): r for r in results}
    print(f"\nmodel {kind}, {os.cpu_count()} CPUs (shared, noisy: compare ratios, rerun), {seconds:.0f} s per point")
    print("| clients | " + " | ".join(f"{v} req/s" for v in variants) + " | "
          + " | ".join(f"{v} p50 / p99 ms" for v in variants) + " | service/plain | service/litserve |")  # fmt: skip
    for clients in levels:
        cells = [f"{by[(v, clients)]['throughput']:.1f}" for v in variants]
        cells += [f"{by[(v, clients)]['p50_ms']:.1f} / {by[(v, clients)]['p99_ms']:.1f}" for v in variants]
        ratios = []
        for other in ("plain", "litserve"):
            if ("service", clients) in by and (other, clients) in by and by[(other, clients)]["throughput"]:
                ratios.append(f"{by[('service', clients)]['throughput'] / by[(other, clients)]['throughput']:.2f}x")
            else:
                ratios.append("-")
        print(f"| {clients} | " + " | ".join(cells + ratios) + " |")
    top = max(levels)
    if all((v, top) in by and by[(v, top)]["throughput"] for v in ("service", "plain", "litserve")):
        service, plain, lit = by[("service", top)], by[("plain", top)], by[("litserve", top)]
        print(
            f"goals at {top} clients: >= 3x the unbatched (plain) throughput: "
            f"{service['throughput'] / plain['throughput']:.2f}x; >= LitServe's throughput: "
            f"{service['throughput'] / lit['throughput']:.2f}x; p99 no worse than LitServe's: "
            f"{service['p99_ms']:.1f} vs {lit['p99_ms']:.1f} ms"
        )
    print(json.dumps(results))


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def _cpu_seconds(pid: int, task: int | None = None) -> float:
    """A process's user + system CPU seconds, all its threads (Linux /proc; the capture writer is a thread),
    or with `task` one thread's (the process's own id: its main thread, the event loop)."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# A paired run: two batched servers of one model that differ in one setting, measured alternately.
PAIRED = {
    # Prediction capture: every row recorded (Parquet in the embedded bucket) or none. Goal: capture costs at
    # most 5% of the throughput at 32 clients and drops nothing below its queue's bound (INFERENCE_CAPTURE_QUEUE).
    "capture": ("INFERENCE_CAPTURE_RATE", {"capture on": "1", "capture off": "0"}),
    # The collector's youngest-generation threshold: the service's (mlops_inference.main.tune_gc) or CPython's.
    "gc": ("INFERENCE_GC_GEN0", {"gc 10000": "10000", "gc 700": "700"}),
}


def paired_benchmark(kind: str, model: str, levels: list[int], seconds: float, rounds: int) -> None:
    """Two batched servers of the same model (one row, or one image, per request) that differ only in
    PAIRED[kind]'s setting, measured alternately `rounds` times per level; the first variant over the second,
    as the ratio of the medians, the median of the rounds' ratios and the server CPU per request."""
    from tooling.local_server import free_port

    setting, values = PAIRED[kind]
    first, second = values
    state_dir = Path(tempfile.mkdtemp(prefix=f"inference-{kind}-bench-"))
    if model in IMAGE_MODELS:  # one image per request: its summary (a few tensor reductions) is what is captured
        load = [image_body(*prepare_image(state_dir, model))]
    else:
        load = [json.dumps({"rows": [row]}).encode() for row in prepare(state_dir, model)]
    ports = {name: free_port() for name in values}
    servers = {}
    try:
        for name, port in ports.items():
            os.environ[setting] = values[name]  # start_server passes this process's environment on
            servers[name] = start_server(state_dir, port, True)
        os.environ.pop(setting)
        by: dict[tuple[str, int], list[dict]] = {}
        for clients in levels:
            for round_ in range(rounds):
                for name in (first, second) if round_ % 2 == 0 else (second, first):
                    pid = servers[name].pid
                    cpu_before, loop_before = _cpu_seconds(pid), _cpu_seconds(pid, pid)
                    result = asyncio.run(measure(ports[name], load, clients, seconds))
                    served = max(result["requests"], 1)
                    result["cpu_ms_per_request"] = 1000 * (_cpu_seconds(pid) - cpu_before) / served
                    result["loop_cpu_ms_per_request"] = 1000 * (_cpu_seconds(pid, pid) - loop_before) / served
                    by.setdefault((name, clients), []).append(result)
                    print(
                        f"{name:<11} {clients:>3} clients  {result['throughput']:8.1f} req/s  "
                        f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}"
                        f"  server CPU {result['cpu_ms_per_request']:.3f} ms/request"
                        f" (event loop {result['loop_cpu_ms_per_request']:.3f})",
                        flush=True,
                    )
        captured = _capture_totals(ports[first]) if kind == "capture" else {}
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)
    print(f"\nmodel {model}, {os.cpu_count()} CPUs, {seconds:.0f} s per point, {rounds} rounds (median)")
    summary = []
    for clients in levels:
        median_a = statistics.median(r["throughput"] for r in by[(first, clients)])
        median_b = statistics.median(r["throughput"] for r in by[(second, clients)])
        # Each round's two runs ran back to back: their ratio cancels the machine's slower swings.
        pairs = [
            a["throughput"] / b["throughput"] for a, b in zip(by[(first, clients)], by[(second, clients)], strict=True)
        ]
        paired = statistics.median(pairs)
        # The server's CPU per request, first over second: what the setting adds to each request's work. A
        # CPU-bound server's throughput is cores / CPU per request, so 1 / this ratio is the throughput left,
        # and unlike throughput it hardly moves with what else the machine runs.
        cpu_a = statistics.median(r["cpu_ms_per_request"] for r in by[(first, clients)])
        cpu_b = statistics.median(r["cpu_ms_per_request"] for r in by[(second, clients)])
        # The main thread (the event loop, where /predict runs) apart from the rest (batcher, writer, pools).
        loop_a = statistics.median(r["loop_cpu_ms_per_request"] for r in by[(first, clients)])
        loop_b = statistics.median(r["loop_cpu_ms_per_request"] for r in by[(second, clients)])
        summary.append(
            {
                "clients": clients,
                first: median_a,
                second: median_b,
                "paired_ratio": paired,
                f"cpu_ms_per_request {first}": cpu_a,
                f"cpu_ms_per_request {second}": cpu_b,
                f"loop_cpu_ms_per_request {first}": loop_a,
                f"loop_cpu_ms_per_request {second}": loop_b,
            }
        )
        print(
            f"{clients:>3} clients: {first} / {second} throughput {median_a:.1f}/{median_b:.1f} req/s"
            f" = {median_a / median_b:.3f}; median of the rounds' ratios {paired:.3f}"
            f" (rounds {', '.join(f'{r:.2f}' for r in pairs)});"
            f" server CPU per request {cpu_a:.3f}/{cpu_b:.3f} ms = {cpu_a / cpu_b:.3f}"
            f" (throughput {cpu_b / cpu_a:.3f}x when CPU-bound);"
            f" the event loop's {1000 * loop_a:.1f}/{1000 * loop_b:.1f} us,"
            f" the other threads' {1000 * (cpu_a - loop_a):.1f}/{1000 * (cpu_b - loop_b):.1f} us"
        )
    if captured:
        files = list((state_dir / "buckets" / "ml-predictions-dev").rglob("*.parquet"))
        print(
            f"capture: {captured['served']:.0f} rows served, {captured['captured']:.0f} written,"
            f" {captured['queued']:.0f} still queued before shutdown, {captured['dropped']:.0f} dropped;"
            f" {len(files)} Parquet files after shutdown"
        )
    print(json.dumps({"kind": kind, "levels": summary, **captured}))


def _capture_totals(port: int) -> dict[str, float]:
    time.sleep(1.5)  # the writer's interval (INFERENCE_CAPTURE_FLUSH_S, 10 s by default) may still hold rows
    return {
        "queued": _metric(port, "inference_capture_queue_rows"),
        "captured": _metric(port, "inference_captured_rows_total"),
        "dropped": _metric(port, "inference_capture_dropped_rows_total"),
        "served": _metric(port, "inference_rows_total"),
    }


if __name__ == "__main__":
    main()
