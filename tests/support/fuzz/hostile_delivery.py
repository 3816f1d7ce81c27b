"""Deliver a hostile variant of a saved event to its function, in process, and observe what it did.

One observation per delivery: the outcome the function logged (or what the HTTP answer / the Lambda
invocation says when it logged none), the HTTP status, and whether the state dir changed. The fuzz
tests assert the property on it; `census.py` counts it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.fuzz.mutations import dumps
from tooling.delivery import HttpDelivery
from tooling.event_routes import function_for
from tooling.manifest import REPO_ROOT, FunctionSpec, load_manifest
from tooling.replay import Replayer

EVENTS = REPO_ROOT / "events"
# What an event may end as. `retry` and `error` are for failures of our own or of a backend: bad
# input is never one of them.
ACCEPTABLE = {"applied", "duplicate", "ignored", "rejected"}
# An outcome's detail goes to the log on every delivery: it names the field, it does not carry it.
MAX_DETAIL = 2_000
CARRIED = 250  # a detail may show a name cut at 200 characters (slack_format.NAME_MAX), saying so


@dataclass(frozen=True)
class Seed:
    """A saved, well-formed event and the function the manifest routes it to."""

    path: Path
    spec: FunctionSpec
    mode: str  # structured | binary | legacy | http | lambda
    document: Any

    @property
    def label(self) -> str:
        return self.path.relative_to(EVENTS).as_posix()


@dataclass(frozen=True)
class Observation:
    outcome: str
    detail: str
    http_status: int | None
    state_changed: bool


def seeds() -> list[Seed]:
    """Every fixture that is not malformed already: the real shapes the mutations start from."""
    expected = _expected()
    found = []
    for spec in load_manifest():
        for path in spec.fixture_files():
            label = path.relative_to(EVENTS).as_posix()
            if label in expected and expected[label]["outcome"] != "rejected":
                document = json.loads(path.read_text())
                found.append(Seed(path, function_for(path, None), _mode(spec, document), document))
    return found


def _expected() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((EVENTS / "expected.yaml").read_text())


def _mode(spec: FunctionSpec, document: Any) -> str:
    if spec.platform == "aws-lambda":
        return "lambda"
    if "specversion" in document:
        return "structured"
    if "headers" in document:
        return "binary" if any(k.lower().startswith("ce-") for k in document["headers"]) else "http"
    return "legacy"


def delivery(seed: Seed, document: Any) -> HttpDelivery:
    """The hostile document sent the way its seed travels: the content type stays what the platform
    sends, whatever the mutation did to the fields that name the mode."""
    if seed.mode in {"binary", "http"}:
        headers = document.get("headers") if isinstance(document, dict) else None
        headers = {str(k): _header(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
        body = document.get("body") if isinstance(document, dict) else document
        return HttpDelivery(headers, dumps(body).encode("utf-8", "surrogatepass"), seed.mode, None)
    content_type = "application/cloudevents+json" if seed.mode == "structured" else "application/json"
    return HttpDelivery(
        {"Content-Type": content_type}, dumps(document).encode("utf-8", "surrogatepass"), seed.mode, None
    )


def _header(value: Any) -> str:
    """An HTTP header carries latin-1 text without line breaks: what cannot travel is sent escaped, as
    a proxy would have to."""
    text = value if isinstance(value, str) else json.dumps(value)[:8_000]
    if any(c in text for c in "\r\n\x00") or not text.isascii():
        return json.dumps(text)[1:-1].encode("ascii", "backslashreplace").decode()[:8_000]
    return text[:8_000]


def snapshot(state: Path) -> dict[str, str]:
    """Every file's content digest, a SQLite database's by its rows: a rejected event must leave all of
    them as they were. (A database in WAL mode keeps its writes in `-wal` until a checkpoint: hashing the
    main file would miss them, hashing the WAL would see a reader's empty one appear.)"""
    digests = {}
    for path in sorted(state.rglob("*")):
        if not path.is_file() or path.name.endswith(("-wal", "-shm", "-journal")):
            continue
        content = _rows(path) if path.suffix == ".sqlite" else path.read_bytes()
        if path.suffix == ".sqlite" and not content:
            continue  # a store's empty tables, created when first opened: as good as no database
        digests[path.relative_to(state).as_posix()] = hashlib.sha256(content).hexdigest()
    return digests


def _rows(database: Path) -> bytes:
    """The database's rows as SQL, read through SQLite (so the WAL's writes count), changing nothing. Rows
    only: a store creates its (empty) tables when first opened, which records nothing of an event."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return "\n".join(line for line in connection.iterdump() if line.startswith("INSERT INTO")).encode()
    finally:
        connection.close()


def observe(replayer: Replayer, seed: Seed, document: Any, state: Path) -> Observation:
    before = snapshot(state)
    if seed.mode == "lambda":
        result = replayer.invoke(seed.spec, document, label=seed.label)
    else:
        result = replayer.deliver(seed.spec, delivery(seed, document), label=seed.label)
    return Observation(result.outcome, result.detail, result.http_status, snapshot(state) != before)


def problems(observation: Observation, inserted: tuple[str, ...] = ()) -> list[str]:
    """What the property forbids: an outcome bad input must never have, a 5xx, a rejection that wrote
    something, a detail that carries the input instead of naming it (a value quoted whole past its
    first CARRIED characters)."""
    found = []
    if any(len(value) > CARRIED and value[:CARRIED] in observation.detail for value in inserted):
        found.append("the detail carries a hostile value")
    if observation.outcome not in ACCEPTABLE:
        found.append(f"outcome {observation.outcome}")
    if observation.http_status is not None and observation.http_status >= 500:
        found.append(f"HTTP {observation.http_status}")
    if observation.outcome == "rejected" and observation.state_changed:
        found.append("a rejection changed the state")
    if len(observation.detail) > MAX_DETAIL:
        found.append(f"detail of {len(observation.detail)} characters")
    return found
