"""Uploads a model version folder and registers it the way production does: the files go into the
model bucket, and `register_model` receives the finalize events Eventarc would send for them.

Used by the demo (the trained demo model becomes the newest fraud-detector version) and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from tooling.fixture_factory import storage_cloud_event, storage_object_data

if TYPE_CHECKING:
    from tooling.manifest import FunctionSpec
    from tooling.replay import Replayer, ReplayResult

FINALIZED = "google.cloud.storage.object.v1.finalized"
CONTENT_TYPES = {".json": "application/json", ".pt": "application/octet-stream"}


def publish_version(
    objects,
    replayer: Replayer,
    *,
    bucket: str,
    model: str,
    version: int,
    files: Mapping[str, bytes],
    uploader: str,
    functions: Sequence[FunctionSpec] | None = None,
) -> list[ReplayResult]:
    """`objects`: the ObjectStore the functions read (the embedded profile's local folder, or GCS).
    `functions`: those each finalize event is delivered to, in order, as Eventarc delivers every upload of
    the models bucket to each of its triggers (register_model and evaluate_model); register_model alone by
    default. A result per file and function."""
    from tooling.delivery import delivery_from_document
    from tooling.manifest import function_named

    specs = functions or [function_named("register_model")]
    results: list[ReplayResult] = []
    for path, content in files.items():
        name = f"{model}/v{version}/{path}"
        content_type = next((t for ext, t in CONTENT_TYPES.items() if path.endswith(ext)), "application/octet-stream")
        stored = objects.put(bucket, name, content, content_type=content_type, metadata={"uploader": uploader})
        data = storage_object_data(
            bucket,
            name,
            generation=stored.generation,
            content=content,
            content_type=content_type,
            metadata={"uploader": uploader},
            time_created=stored.time_created,
        )
        event = storage_cloud_event(FINALIZED, data, time=stored.time_created)
        results.extend(replayer.deliver(spec, delivery_from_document(event), label=name) for spec in specs)
    return results
