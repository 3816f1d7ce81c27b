"""Entry point: Eventarc `google.cloud.storage.object.v1.finalized|deleted|archived` on the model buckets."""

from __future__ import annotations

from handlers import register_model as use_case
from shared import framework_boundary
from shared.deps import current_deps
from shared.payloads.storage import parse_storage_event
from shared.runtime import run_cloud_event


def _handle(envelope):
    return use_case.handle(parse_storage_event(envelope), current_deps())


@framework_boundary.cloud_event("register_model")
def register_model(cloud_event):
    run_cloud_event("register_model", cloud_event, _handle)
