"""JSON-lines files that several processes append to and that survive a failed append.

Each record is one line. An append is one `write` of the whole line, on a descriptor opened with
O_APPEND, under an exclusive `flock`, then fsync'd; if the write fails part way (disk full, a signal)
the file is truncated back to where it was. A line torn anyway (a crash mid-write, a copy cut short)
costs that line only: the next append first ends it, and readers skip it with a warning naming the
file and line number, instead of failing every later read.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def append_line(path: Path, line: bytes) -> None:
    """Append `line` (one JSON document, no line break) as a line of its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # end a torn line first, or this record would be glued to it and lost too
        data = line + b"\n"
        try:
            written = os.write(fd, data)
            while written < len(data):  # a regular file takes it in one go; finish the line if it did not
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, size)  # take the partial line back: we hold the lock, nobody appended since
            raise
    finally:
        os.close(fd)  # releases the lock


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record in the file, oldest first; none when it does not exist. Unreadable lines are skipped."""
    try:
        with open(path, "rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH)
            data = f.read()
    except FileNotFoundError:
        return []
    records: list[dict[str, Any]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:  # JSON or UTF-8 cut short
            record = None
        if not isinstance(record, dict):
            log.warning("%s line %d is not a whole JSON record (a torn append?): skipped", path, number)
            continue
        records.append(record)
    return records
