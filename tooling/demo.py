"""`mlops-events demo`: the main job on the embedded profile, with no service running.

Seeds the local model bucket with the sample files the fixtures describe (same generations, so the
function reads their real header bytes), replays every saved fixture through its function, replays
one again to show the duplicate, and leaves the registry for `mlops-events registry list`. Then it
trains the demo model, registers it like any upload, and serves it with the inference service.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from shared.adapters.local_object_store import LocalObjectStore
from tooling.manifest import REPO_ROOT, load_manifest
from tooling.replay import Replayer, ReplayResult

OBJECTS_DIR = REPO_ROOT / "events" / "objects"


def seed_local_buckets(store: LocalObjectStore) -> int:
    """Put each sample file at the generation its newest finalize fixture names (events/objects/index.json)."""
    index = json.loads((OBJECTS_DIR / "index.json").read_text())
    for key, described in index.items():
        bucket, _, name = key.partition("/")
        store.put(
            bucket,
            name,
            (OBJECTS_DIR / key).read_bytes(),
            content_type=described.get("contentType"),
            metadata=described.get("metadata"),
            generation=int(described["generation"]),
        )
    return len(index)


def run_demo(buckets_dir: Path, *, lambda_stdout: TextIO | None = None) -> tuple[int, list[ReplayResult], Replayer]:
    specs = load_manifest()
    fixtures = [path for spec in specs for path in spec.fixture_files()]
    seeded = seed_local_buckets(LocalObjectStore(buckets_dir))
    replayer = Replayer(specs, lambda_stdout=lambda_stdout)
    results = [replayer.replay_file(path) for path in fixtures]
    if fixtures:
        results.append(replayer.replay_file(fixtures[0]))  # at-least-once delivery: the redelivery is a duplicate
    return seeded, results, replayer


def serve_demo_model(state_dir: Path, buckets_dir: Path, replayer: Replayer) -> dict | None:
    """Train the demo model, register it as the newest fraud-detector version, start the inference
    service on a free port, and ask it for predictions. None when torch is not installed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    import httpx

    import mlops_inference.train as train
    from mlops_inference.app import create_app
    from mlops_inference.main import build_service
    from mlops_inference.settings import ServiceSettings
    from tooling.inference_local import serving
    from tooling.model_publish import publish_version

    folder = state_dir / "demo-model"
    if not (folder / "model.pt").is_file():
        train.train(folder)
    files = {name: (folder / name).read_bytes() for name in ("model.json", "model.pt")}
    publish_version(
        LocalObjectStore(buckets_dir),
        replayer,
        bucket="ml-models-dev",
        model="fraud-detector",
        version=3,
        files=files,
        uploader="demo",
    )
    service = build_service(ServiceSettings(model_name="fraud-detector", env="dev", reload_s=0))
    with serving(create_app(service)) as url:
        rows = train.feature_rows(train.synthetic_transactions(3, seed=11))
        prediction = httpx.post(f"{url}/predict", json={"rows": rows}, timeout=10).json()
        feedback = {"request_id": prediction.get("request_id", "?"), "row": 0, "label": 1}
        httpx.post(f"{url}/feedback", json={**feedback, "prediction": prediction["predictions"][0]}, timeout=10)
        return {
            "url": url,
            "ready": httpx.get(f"{url}/readyz", timeout=10).json(),
            "rows": rows,
            "prediction": prediction,
            "drift": httpx.get(f"{url}/monitoring/drift", timeout=10).json(),
            "feedback": httpx.get(f"{url}/feedback/stats", timeout=10).json(),
        }


def serve_ct_demo_model(state_dir: Path, buckets_dir: Path, replayer: Replayer) -> dict | None:
    """Train the CT classifier on synthetic DICOM slices (once per state dir), register it as
    ct-scan-classifier v1 in dev like any upload, serve it, and send it four slices (two with a lesion)
    as multipart files, as `curl -F file=@slice.dcm` would. None when torch is not installed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    import httpx

    from mlops_inference.app import create_app
    from mlops_inference.main import build_service
    from mlops_inference.settings import ServiceSettings
    from tooling import ct_demo
    from tooling.inference_local import serving
    from tooling.model_publish import publish_version

    folder = state_dir / "ct-demo-model"
    if not all((folder / name).is_file() for name in ("model.json", "model.pt2")):
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in ct_demo.train().files.items():
            (folder / name).write_bytes(content)
    files = {name: (folder / name).read_bytes() for name in ("model.json", "model.pt2")}
    registered = publish_version(
        LocalObjectStore(buckets_dir),
        replayer,
        bucket="ml-models-dev",
        model=ct_demo.MODEL_NAME,
        version=1,
        files=files,
        uploader="demo",
    )
    samples = ct_demo.write_samples(state_dir / "ct-samples", count=4)
    service = build_service(ServiceSettings(model_name=ct_demo.MODEL_NAME, env="dev", reload_s=0))
    with serving(create_app(service)) as url:
        upload = [("file", (path.name, path.read_bytes(), "application/dicom")) for path in samples]
        prediction = httpx.post(f"{url}/predict", files=upload, timeout=30).json()
        return {
            "url": url,
            "registered": [r.outcome for r in registered],
            "ready": httpx.get(f"{url}/readyz", timeout=10).json(),
            "samples": samples,
            "prediction": prediction,
        }
