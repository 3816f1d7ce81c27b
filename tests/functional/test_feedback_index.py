"""The Firestore index the accuracy gauge needs is the one Terraform creates: Firestore answers an
aggregation only from a composite index of its filters and the averaged field, and a query without one
fails in the cloud alone (the emulator needs no index), so the two are held equal here."""

from __future__ import annotations

import inspect
from pathlib import Path

import hcl2

from mlops_inference.feedback import ACCURACY_INDEX, FirestoreFeedbackStore
from tests.support.terraform_contract import text

REGISTRY_MAIN = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "registry" / "main.tf"


def declared_index() -> tuple[str, list[str], set[str]]:
    """The feedback index's collection, its fields in order, and their orders."""
    with REGISTRY_MAIN.open() as handle:
        resources = hcl2.load(handle)["resource"]
    [index] = [
        body
        for resource in resources
        for kind, named in resource.items()
        if text(kind) == "google_firestore_index"
        for name, body in named.items()
        if text(name) == "feedback_accuracy"
    ]
    [fields] = [block[key] for block in index["dynamic"] for key in block if text(key) == "fields"]
    [content] = fields["content"]
    return text(index["collection"]), [text(f) for f in fields["for_each"]], {text(content["order"])}


def test_terraform_indexes_the_fields_the_accuracy_query_filters_and_averages():
    collection, fields, orders = declared_index()
    assert tuple(fields) == ACCURACY_INDEX
    assert orders == {"ASCENDING"}
    default = inspect.signature(FirestoreFeedbackStore).parameters["collection"].default
    assert collection == default == "feedback"
