"""`up --only FUNCTION...`: which emulators the chosen functions need, read from the code and the manifest.

A function needs what its trigger is delivered through (a GCS notification rides fake-gcs-server and Pub/Sub,
a topic or a Pub/Sub schedule Pub/Sub, an ECR push moto) and what the ports of its use case are built on in
the emulators profile (shared/deps.py): the ports are the properties of the `...Deps` Protocol its handler's
`handle(event, deps)` takes, found from the `from handlers import X` of the function's module.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
from collections.abc import Iterable

from tooling.manifest import REPO_ROOT, FunctionSpec

EMULATORS = ("pubsub", "firestore", "bigquery", "moto", "gcs")
INFERENCE = "inference"

# What each port of Deps is built on in the emulators profile (shared/deps.py). The Slack receiver, the
# Kubernetes API test server and the rollout journal (a file) run in `up` itself and cost nothing to start.
PORT_EMULATORS: dict[str, frozenset[str]] = {
    "objects": frozenset({"gcs"}),
    "registry": frozenset({"firestore", "bigquery"}),  # Firestore, fanned out to the BigQuery table
    "idempotency": frozenset({"firestore"}),
    "alert_ledger": frozenset({"firestore"}),
    "feature_profiler": frozenset({"gcs", "bigquery"}),  # Parquet on GCS, or a BigQuery table
    "drift_runs": frozenset({"bigquery"}),
    "notifier": frozenset(),
    "rollout_targets": frozenset({"moto"}),  # the SSM parameter
    "rollout_once": frozenset({"moto"}),  # DynamoDB
    "cluster": frozenset(),
    "rollout_journal": frozenset(),
    "settings": frozenset(),
    "clock": frozenset(),
    "sleep": frozenset(),
}
# The inference service reads the registry and loads the model file from its bucket.
INFERENCE_EMULATORS = frozenset({"gcs", "firestore", "bigquery"})


class UnknownFunction(ValueError):
    """`--only` named something the manifest does not have; the message lists what it has."""


def trigger_emulators(spec: FunctionSpec) -> frozenset[str]:
    trigger = spec.trigger
    kind = trigger.get("kind")
    needs: set[str] = set()
    if kind == "eventarc":
        needs |= {"gcs", "pubsub"}  # fake-gcs-server publishes the notification, the bridge pulls it
    if trigger.get("topic"):
        needs.add("pubsub")
    if kind == "eventbridge" or spec.platform == "aws-lambda":
        needs.add("moto")  # ECR, the Lambda's secrets and its on-failure queue
    return frozenset(needs)


def handler_ports(spec: FunctionSpec) -> frozenset[str]:
    """The properties of the Deps Protocol the function's use case takes (empty if it names none)."""
    source = ast.parse((REPO_ROOT / spec.source).read_text())
    ports: set[str] = set()
    for node in ast.walk(source):
        if isinstance(node, ast.ImportFrom) and node.module == "handlers":
            for alias in node.names:
                ports |= _deps_members(importlib.import_module(f"handlers.{alias.name}"))
    return frozenset(ports)


def _deps_members(module: object) -> set[str]:
    handle = getattr(module, "handle", None)
    if handle is None:
        return set()
    annotation = inspect.signature(handle).parameters["deps"].annotation
    protocol = getattr(module, annotation, None) if isinstance(annotation, str) else annotation
    if protocol is None:
        raise LookupError(f"{module.__name__}.handle: cannot resolve its deps type {annotation!r}")  # type: ignore[attr-defined]
    members: set[str] = set()
    for klass in inspect.getmro(protocol):
        if klass is object or klass.__module__ == "typing":
            continue
        members |= {name for name, value in vars(klass).items() if isinstance(value, property)}
        members |= set(getattr(klass, "__annotations__", {}))
    return members


def function_emulators(spec: FunctionSpec) -> frozenset[str]:
    needs = set(trigger_emulators(spec))
    for port in handler_ports(spec):
        if port not in PORT_EMULATORS:
            raise LookupError(f"{spec.name}: port {port!r} has no emulator mapping in {__name__}.PORT_EMULATORS")
        needs |= PORT_EMULATORS[port]
    return frozenset(needs)


def select(specs: list[FunctionSpec], only: Iterable[str]) -> tuple[list[FunctionSpec], bool]:
    """The manifest's functions `only` names (in manifest order), and whether it names the inference service.
    UnknownFunction for a name that is neither, suggesting the closest."""
    names = {spec.name for spec in specs}
    wanted = {name.strip() for item in only for name in item.split(",") if name.strip()}
    unknown = sorted(wanted - names - {INFERENCE})
    if unknown:
        known = sorted(names | {INFERENCE})
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
        raise UnknownFunction(f"no function {', '.join(hints)} in the manifest; it has: {', '.join(known)}")
    return [spec for spec in specs if spec.name in wanted], INFERENCE in wanted


def emulators_for(specs: list[FunctionSpec], inference: bool) -> frozenset[str]:
    needs: set[str] = set(INFERENCE_EMULATORS if inference else ())
    for spec in specs:
        needs |= function_emulators(spec)
    return frozenset(needs)
