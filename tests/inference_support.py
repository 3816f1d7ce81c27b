"""A tiny real model (TorchScript, two features) and an embedded profile where it is registered, for
the inference service's tests: the service finds it through the registry, as it would in the cloud."""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from mlops_inference.model import Feature, ModelSpec
from mlops_inference.publish import publish_version

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
    from shared.replay import Replayer

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
