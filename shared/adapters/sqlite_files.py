"""SQLite connections suited to several processes and threads writing one file.

One connection per thread and file, opened on first use and kept: opening one (WAL, pragmas) costs
a few milliseconds, which a function's first request would otherwise pay several times over.

Opening is where state is lost quietly, so it follows three rules:
- a file that exists is a SQLite database or is refused (`ConfigError` naming it): SQLite takes a
  0-byte file for an empty database, and the schema created on it would hide that the history is gone;
- a new file is created whole (header written under a temporary name, then linked into place), so a
  process opening it at the same moment never sees the 0-byte file that the first rule refuses;
- `database is locked` while switching to WAL or creating the schema (SQLite returns it there without
  waiting for the busy timeout, e.g. while another process initialises the WAL) is retried with a
  bounded backoff, then raised as `TransientError` so the platform redelivers.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from shared.errors import ConfigError, TransientError

_local = threading.local()
_HEADER = b"SQLite format 3\x00"
_BUSY_TIMEOUT_MS = 30_000
_OPEN_DEADLINE_S = 15.0  # retries of a locked pragma or schema stop after this long
T = TypeVar("T")


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def retry_locked(path: Path, what: str, attempt: Callable[[], T], *, deadline_s: float = _OPEN_DEADLINE_S) -> T:
    """`attempt()`, again after a short growing sleep while SQLite answers `database is locked`."""
    deadline = time.monotonic() + deadline_s
    delay = 0.005
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc):
                raise
            if time.monotonic() + delay > deadline:
                message = f"SQLite {path}: still locked while {what}, gave up after {deadline_s:g} s"
                raise TransientError(message) from exc
        time.sleep(delay * (0.5 + random.random()))  # jitter: processes that collided do not retry in step
        delay = min(delay * 2, 0.5)


def check_database_file(path: Path) -> None:
    """Refuse a file that exists but is not a SQLite database (empty, truncated header, something else)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_HEADER))
    except FileNotFoundError:
        return
    if head != _HEADER:
        what = "is empty (0 bytes)" if not head else "is not a SQLite database"
        raise ConfigError(
            f"state file {path} {what}: refusing to use it as an empty one, which would lose its history;"
            " restore it from a backup, or delete it to start empty"
        )


def _create_database_file(path: Path) -> None:
    """Write a new database's header under a temporary name, then link it into place if still absent."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.new")
    try:
        conn = sqlite3.connect(temporary, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # writes the header (and WAL mode) to page 1
        finally:
            conn.close()
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process created it first: use theirs
            pass
        except OSError:  # a filesystem without hard links: SQLite creates it in place, as before
            pass
    finally:
        for suffix in ("", "-wal", "-shm"):
            temporary.with_name(temporary.name + suffix).unlink(missing_ok=True)


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _create_database_file(path)
    check_database_file(path)
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")  # before the pragmas that need a lock
        retry_locked(path, "switching to WAL", lambda: conn.execute("PRAGMA journal_mode=WAL"))
        # In WAL mode NORMAL survives a crash of the process (what a function sees) and skips an fsync per commit.
        retry_locked(path, "setting synchronous", lambda: conn.execute("PRAGMA synchronous=NORMAL"))
    except BaseException:
        conn.close()
        raise
    return conn


def connection(path: Path) -> sqlite3.Connection:
    """This thread's connection to `path` (sqlite3 connections must stay on their thread)."""
    opened: dict[Path, sqlite3.Connection] = _local.__dict__.setdefault("connections", {})
    conn = opened.get(path)
    if conn is None:
        try:
            conn = _open(path)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:  # e.g. a header intact but the rest not a database
            raise ConfigError(f"state file {path} cannot be opened as SQLite: {exc}") from exc
        opened[path] = conn
    return conn


def create_schema(path: Path, script: str) -> None:
    """Run idempotent DDL (CREATE ... IF NOT EXISTS) on open, retried while the file is locked."""
    conn = connection(path)
    retry_locked(path, "creating the schema", lambda: conn.executescript(script))


@contextmanager
def write_transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE takes the write lock up front, so read-then-write is atomic across processes."""
    conn = connection(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:  # still locked after busy_timeout: let the platform retry
        raise TransientError(f"SQLite {path.name} is busy: {exc}") from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
