"""SQLite connections suited to several processes and threads writing one file.

One connection per thread and file, opened on first use and kept: opening one (WAL, pragmas) costs
a few milliseconds, which a function's first request would otherwise pay several times over.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.errors import TransientError

_local = threading.local()


def connection(path: Path) -> sqlite3.Connection:
    """This thread's connection to `path` (sqlite3 connections must stay on their thread)."""
    opened: dict[Path, sqlite3.Connection] = _local.__dict__.setdefault("connections", {})
    conn = opened.get(path)
    if conn is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL survives a crash of the process (what a function sees) and skips an fsync per commit.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        opened[path] = conn
    return conn


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
