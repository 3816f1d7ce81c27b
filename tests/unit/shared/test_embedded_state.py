"""What the embedded profile's state dir tolerates and what it refuses (issue 15, item 6).

Tolerated: processes opening a fresh state dir at once, a torn line in a JSON-lines file, an
unreadable sidecar, a state dir copied with new modification times. Refused, naming the file: a
SQLite state file that is empty or not SQLite, which would otherwise start over as an empty one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handlers import reconcile_registry
from shared.adapters.jsonl_rollout_journal import JsonlRolloutJournal
from shared.adapters.local_object_store import LocalObjectStore
from shared.adapters.slack_outbox import OutboxSlackNotifier, read_outbox
from shared.adapters.sqlite_alert_ledger import SqliteAlertLedger
from shared.adapters.sqlite_drift_runs import SqliteDriftRunStore
from shared.adapters.sqlite_files import retry_locked
from shared.adapters.sqlite_idempotency import SqliteIdempotencyStore
from shared.adapters.sqlite_idempotency_layer import SqlitePersistenceLayer
from shared.adapters.sqlite_registry import SqliteRegistryStore
from shared.config import Settings
from shared.deps import Deps
from shared.errors import ConfigError, TransientError
from shared.outcome import Status
from shared.payloads.scheduler import ScheduledRun

STORES = {
    "registry.sqlite": SqliteRegistryStore,
    "idempotency.sqlite": SqliteIdempotencyStore,
    "alerts.sqlite": SqliteAlertLedger,
    "monitoring.sqlite": SqliteDriftRunStore,
    "rollout-idempotency.sqlite": SqlitePersistenceLayer,
}
RUN = ScheduledRun("run-1", "reconcile-registry", datetime(2026, 11, 3, 3, 17, tzinfo=UTC), {})


# --- (c) opening a fresh state dir from several processes at once ------------------------------


def _open_every_store(state_dir: str, start, results) -> None:
    start.wait()
    try:
        for name, store in STORES.items():
            store(Path(state_dir) / name)
        results.put("ok")
    except BaseException as exc:  # reported to the parent, which asserts on it
        results.put(f"{type(exc).__name__}: {exc}")


def test_eight_processes_opening_a_fresh_state_dir_at_once_never_fail(tmp_path):
    # GIVEN 8 processes, released together by a barrier, 20 times over, each time on a fresh state dir
    context = multiprocessing.get_context("fork")
    failures: list[str] = []
    for round_ in range(20):
        state_dir = tmp_path / f"state-{round_}"
        start, results = context.Barrier(8), context.Queue()
        processes = [context.Process(target=_open_every_store, args=(str(state_dir), start, results)) for _ in range(8)]
        # WHEN each opens every SQLite store of the embedded profile
        for p in processes:
            p.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for p in processes:
            p.join(60)
        failures += [o for o in outcomes if o != "ok"]
    # THEN none fails (was: `database is locked` on the WAL pragma in about 1 open in 30)
    assert failures == []


def test_a_lock_that_clears_is_waited_for_and_one_that_does_not_is_transient(tmp_path):
    calls = []

    def locked_twice():
        calls.append(1)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    assert retry_locked(tmp_path / "x.sqlite", "switching to WAL", locked_twice) == "done"
    assert len(calls) == 3

    def always_locked():
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(TransientError, match=r"x\.sqlite: still locked while switching to WAL"):
        retry_locked(tmp_path / "x.sqlite", "switching to WAL", always_locked, deadline_s=0.05)

    def broken():
        raise sqlite3.OperationalError("no such table: models")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        retry_locked(tmp_path / "x.sqlite", "creating the schema", broken)


def test_a_new_state_file_is_never_seen_empty(tmp_path):
    # A fresh file is linked into place with its header written: no 0-byte moment for another process
    SqliteRegistryStore(tmp_path / "registry.sqlite")
    assert (tmp_path / "registry.sqlite").read_bytes()[:16] == b"SQLite format 3\x00"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --- (a) a state file that is empty or not SQLite is refused ----------------------------------


@pytest.mark.parametrize("content", [b"", b"SQLite format", b"not a database at all, but long enough to read" * 200])
@pytest.mark.parametrize("name", sorted(STORES))
def test_a_state_file_that_is_empty_or_not_sqlite_is_refused_naming_it(tmp_path, name, content):
    # GIVEN a state file truncated to nothing, cut inside its header, or overwritten with something else
    path = tmp_path / name
    path.write_bytes(content)
    # WHEN a store opens it
    # THEN it is refused, naming the file, and left as it was (never re-created as an empty database)
    with pytest.raises(ConfigError, match=rf"{path.name} (is empty \(0 bytes\)|is not a SQLite database)"):
        STORES[name](path)
    assert path.read_bytes() == content


def test_a_damaged_database_behind_a_good_header_is_refused_naming_it(tmp_path):
    path = tmp_path / "registry.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    with pytest.raises(ConfigError, match=r"registry\.sqlite"):
        SqliteRegistryStore(path)


# --- (b) a torn line in a JSON-lines file costs that line only ------------------------------


def test_a_torn_outbox_line_is_skipped_and_reported_and_later_appends_read_back(tmp_path, caplog):
    # GIVEN an outbox whose second append was cut mid-line (disk full, a crash)
    path = tmp_path / "slack-outbox.jsonl"
    outbox = OutboxSlackNotifier(path)
    outbox.post({"text": "first"})
    outbox.post({"text": "second, torn"})
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 7])
    # WHEN another payload is appended and the outbox read
    outbox.post({"text": "third"})
    with caplog.at_level(logging.WARNING):
        posted = read_outbox(path)
    # THEN the whole lines read back, and the torn one is skipped with a warning naming the file and line
    assert posted == [{"text": "first"}, {"text": "third"}]
    assert f"{path} line 2 is not a whole JSON record" in caplog.text
    assert path.read_bytes().count(b"\n") == 3  # the torn line was ended before the next was appended


def test_a_torn_utf8_sequence_is_skipped_too(tmp_path, caplog):
    path = tmp_path / "slack-outbox.jsonl"
    OutboxSlackNotifier(path).post({"text": "ünïcode"})
    assert path.read_bytes()[:11] == '{"text":"ü'.encode()
    path.write_bytes(path.read_bytes()[:10])  # cut between the two bytes of "ü": not even UTF-8
    OutboxSlackNotifier(path).post({"text": "after"})
    with caplog.at_level(logging.WARNING):
        assert read_outbox(path) == [{"text": "after"}]
    assert "line 1" in caplog.text


def test_a_failed_append_takes_its_partial_line_back(tmp_path, monkeypatch):
    # GIVEN a write that gives up half way (ENOSPC after some bytes)
    path = tmp_path / "slack-outbox.jsonl"
    OutboxSlackNotifier(path).post({"text": "first"})
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        OutboxSlackNotifier(path).post({"text": "second"})
    monkeypatch.undo()
    # THEN the file is as it was before the failed append
    assert path.read_bytes() == b'{"text":"first"}\n'


def test_the_rollout_journal_follows_the_same_rule(tmp_path, caplog):
    path = tmp_path / "rollouts.jsonl"
    journal = JsonlRolloutJournal(path)
    journal.record({"repository": "ml/server", "action": "rolled"})
    path.write_bytes(path.read_bytes()[:-5])
    journal.record({"repository": "ml/server", "action": "rolled back"})
    with caplog.at_level(logging.WARNING):
        assert journal.entries() == [{"repository": "ml/server", "action": "rolled back"}]
    assert f"{path} line 1" in caplog.text


# --- (d) an unreadable sidecar is reported and the pass goes on ------------------------------


@pytest.fixture
def embedded(tmp_path) -> Deps:
    deps = Deps(Settings(state_dir=tmp_path / "state"))
    deps.objects.put("ml-models-dev", "fraud/v1/model.onnx", b"\x08\x08onnx-1")
    deps.objects.put("ml-models-dev", "fraud/v2/model.onnx", b"\x08\x08onnx-2")
    deps.objects.put("ml-models-dev", "churn/v1/model.onnx", b"\x08\x08onnx-3")
    return deps


def test_a_corrupt_sidecar_is_reported_naming_it_and_the_pass_goes_on(embedded, caplog):
    # GIVEN a sidecar cut short, among good ones
    sidecar = embedded.settings.buckets_dir / ".meta" / "ml-models-dev" / "fraud/v2/model.onnx.json"
    sidecar.write_text(sidecar.read_text()[:20])
    # WHEN the reconcile pass runs
    with caplog.at_level(logging.WARNING):
        outcome = reconcile_registry.handle(RUN, embedded)
    # THEN every model object is registered, and the bad sidecar is named in a warning
    assert outcome.status is Status.APPLIED
    assert len(outcome.extra["healed"]) == 3
    assert f"sidecar {sidecar} is unreadable" in caplog.text


@pytest.mark.parametrize("content", ["[1, 2]", '{"generation": "soon"}', "\xff\xfe"])
def test_a_sidecar_of_the_wrong_shape_is_taken_as_absent(tmp_path, content, caplog):
    store = LocalObjectStore(tmp_path)
    store.put("ml-models-dev", "fraud/v1/model.onnx", b"bytes")
    sidecar = tmp_path / ".meta" / "ml-models-dev" / "fraud/v1/model.onnx.json"
    sidecar.write_text(content, encoding="latin-1")
    with caplog.at_level(logging.WARNING):
        [found] = list(store.list_objects("ml-models-dev"))
    assert found.name == "fraud/v1/model.onnx" and found.size == 5
    assert str(sidecar) in caplog.text


# --- (e) a copied state dir keeps its generations ------------------------------------------


def test_a_state_dir_copied_with_new_mtimes_keeps_its_generations(embedded, tmp_path):
    # GIVEN a state dir whose models were all registered
    first = reconcile_registry.handle(RUN, embedded)
    assert len(first.extra["healed"]) == 3
    before = {(o.name, o.generation) for o in embedded.objects.list_objects("ml-models-dev")}
    # WHEN it is copied without its modification times (`cp -r`) and opened from the copy
    copy = tmp_path / "copied-state"
    shutil.copytree(embedded.settings.state_dir, copy, copy_function=shutil.copy)
    copied = Deps(Settings(state_dir=copy))
    # THEN the objects keep their generations, and reconcile finds nothing gone and nothing new
    assert {(o.name, o.generation) for o in copied.objects.list_objects("ml-models-dev")} == before
    again = reconcile_registry.handle(ScheduledRun("run-2", "reconcile-registry", RUN.schedule_time, {}), copied)
    assert again.status is Status.IGNORED, again.extra


def test_bytes_changed_behind_the_sidecar_get_a_new_generation(tmp_path):
    store = LocalObjectStore(tmp_path)
    put = store.put("ml-models-dev", "fraud/v1/model.onnx", b"old bytes", generation=7)
    (tmp_path / "ml-models-dev" / "fraud/v1/model.onnx").write_bytes(b"new bytes, edited by hand")
    [found] = list(store.list_objects("ml-models-dev"))
    assert put.generation == 7 and found.generation != 7 and found.size == 25


def test_no_temporary_files_are_left_behind(tmp_path):
    with tempfile.TemporaryDirectory(dir=tmp_path) as state:
        for name, store in STORES.items():
            store(Path(state) / name)
        assert not [p for p in Path(state).iterdir() if p.name.endswith(".new")]


def test_a_sidecar_is_replaced_whole(tmp_path):
    # A sidecar is written under a temporary name and renamed into place: never torn, nothing left over
    store = LocalObjectStore(tmp_path)
    store.put("ml-models-dev", "fraud/v1/model.onnx", b"one", generation=1)
    store.put("ml-models-dev", "fraud/v1/model.onnx", b"two", generation=2)
    meta_dir = tmp_path / ".meta" / "ml-models-dev" / "fraud" / "v1"
    assert [p.name for p in meta_dir.iterdir()] == ["model.onnx.json"]
    assert [o.generation for o in store.list_objects("ml-models-dev")] == [2]
