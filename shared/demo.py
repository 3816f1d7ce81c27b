"""`mlops-events demo`: the main job on the embedded profile, with no service running.

Seeds the local model bucket with the sample files the fixtures describe (same generations, so the
function reads their real header bytes), replays every saved fixture through its function, replays
one again to show the duplicate, and leaves the registry for `mlops-events registry list`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from shared.adapters.local_object_store import LocalObjectStore
from shared.manifest import REPO_ROOT, load_manifest
from shared.replay import Replayer, ReplayResult

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


def run_demo(buckets_dir: Path, *, lambda_stdout: TextIO | None = None) -> tuple[int, list[ReplayResult]]:
    specs = load_manifest()
    fixtures = [path for spec in specs for path in spec.fixture_files()]
    seeded = seed_local_buckets(LocalObjectStore(buckets_dir))
    replayer = Replayer(specs, lambda_stdout=lambda_stdout)
    results = [replayer.replay_file(path) for path in fixtures]
    if fixtures:
        results.append(replayer.replay_file(fixtures[0]))  # at-least-once delivery: the redelivery is a duplicate
    return seeded, results
