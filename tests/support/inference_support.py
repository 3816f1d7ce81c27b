"""A tiny real model (TorchScript, two features) and an embedded profile where it is registered, for
the inference service's tests: the service finds it through the registry, as it would in the cloud."""

from __future__ import annotations

import asyncio
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from mlops_inference.model import Feature, ModelSpec
from tooling.model_publish import publish_version

MODEL = "tiny-fraud"
BUCKET = "ml-models-dev"
SPEC = ModelSpec(
    features=(
        Feature("amount", "numeric", mean=50.0, std=10.0),
        Feature("country", "categorical", values=("FR", "US")),
    ),
    output="fraud_probability",
)


def model_files(bias: float = 0.0, spec: ModelSpec = SPEC) -> dict[str, bytes]:
    """model.json + a scripted Linear whose bias tells versions apart in a prediction."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(spec.input_width, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.linspace(0.5, -0.5, spec.input_width).reshape(1, -1))
        layer.bias.fill_(bias)
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(layer), buffer)
    return {"model.json": json.dumps(spec.to_json()).encode(), "model.pt": buffer.getvalue()}


def register(state_dir: Path, version: int, files: dict[str, bytes]) -> None:
    """Upload the files to the local model bucket and let register_model register them."""
    from shared.adapters.local_object_store import LocalObjectStore
    from tooling.replay import Replayer

    results = publish_version(
        LocalObjectStore(state_dir / "buckets"),
        Replayer(),
        bucket=BUCKET,
        model=MODEL,
        version=version,
        files=files,
        uploader="tests",
    )
    assert all(r.outcome == "applied" for r in results), [r.detail for r in results]


# -- slow clients: connections that send their request a byte at a time ---------------------------------


@dataclass
class SlowClient:
    kind: str  # "idle" (sends nothing), "head" (headers a byte at a time), "body" (a declared body a byte at a
    # time) or "chunked" (a chunked body, the same)
    opened: float = 0.0
    closed: float | None = None  # when the server closed the connection (None: still open at the end)
    answer: bytes = b""  # what the server wrote before closing

    @property
    def held_s(self) -> float | None:
        return None if self.closed is None else self.closed - self.opened

    @property
    def status(self) -> int | None:
        parts = self.answer.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


async def _slow(url: str, client: SlowClient, every_s: float, give_up_s: float) -> None:
    host, port = url.removeprefix("http://").split(":")
    client.opened = time.monotonic()
    reader, writer = await asyncio.open_connection(host, int(port))
    if client.kind == "head":
        pending = b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n" + b"x-slow: a" * 10_000
    elif client.kind == "body":
        head = (
            b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n"
        )
        writer.write(head)
        pending = b" " * 100_000
    elif client.kind == "chunked":
        head = b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
        writer.write(head + b"transfer-encoding: chunked\r\n\r\n")
        pending = b"1\r\n \r\n" * 100_000
    else:
        pending = b""

    async def read() -> None:
        while chunk := await reader.read(65536):
            client.answer += chunk

    reading = asyncio.ensure_future(read())
    try:
        deadline = client.opened + give_up_s
        while not reading.done() and time.monotonic() < deadline:
            if pending:
                writer.write(pending[:1])
                pending = pending[1:]
            await asyncio.wait([reading], timeout=every_s)
        if reading.done():
            client.closed = time.monotonic()
    except (ConnectionError, OSError):
        client.closed = time.monotonic()
    finally:
        reading.cancel()
        writer.close()


def slow_clients(
    url: str, counts: dict[str, int], *, every_s: float = 0.5, give_up_s: float = 60.0
) -> list[SlowClient]:
    """Open `counts[kind]` connections of each kind at once and trickle until the server closes each one
    (or `give_up_s` passes); what each saw comes back."""
    clients = [SlowClient(kind) for kind, n in counts.items() for _ in range(n)]

    async def run() -> None:
        await asyncio.gather(*(_slow(url, c, every_s, give_up_s) for c in clients))

    asyncio.run(run())
    return clients
