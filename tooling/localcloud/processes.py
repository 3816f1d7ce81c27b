"""The local cloud's own servers: one process per function (and the inference service), each in its
own process group with its log in a file, brought back when it dies, as Cloud Run starts a new
instance. Stopping kills the whole group, so nothing a function started outlives `up`."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tooling.local_server import HOST

RESTART_DELAY_S = 1.0  # a dead instance comes back after this much...
MAX_RESTART_DELAY_S = 30.0  # ...doubling while it keeps dying young, so a crash loop does not spin
HEALTHY_AFTER_S = 60.0  # an instance that lived this long died of something else: start over at 1 s


@dataclass
class ServedProcess:
    name: str
    argv: Sequence[str]
    env: dict[str, str]
    port: int
    log_path: Path
    cwd: Path | None = None
    on_restart: Callable[[ServedProcess, int], None] | None = None  # (process, exit code) when it came back
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started_at: float = 0.0
    _delay_s: float = RESTART_DELAY_S
    _restart_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        if self.process is None:
            atexit.register(self.stop)  # an `up` that dies of an exception still stops its children
        self._started_at = time.monotonic()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor; appends survive restarts
            self.process = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )

    def wait_listening(self, timeout_s: float = 60.0) -> None:
        """Ready when the port accepts (a GET on a CloudEvent function is a 405, so no HTTP probe)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            process = self.process
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {process.returncode}:\n{self.log_tail()}")
            with socket.socket() as probe:
                if probe.connect_ex((HOST, self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on {HOST}:{self.port} within {timeout_s:.0f} s")

    def check(self) -> None:
        """Start it again if it died, after a delay that doubles while it keeps dying young (the
        supervisor calls this every tick; it never blocks)."""
        with self._lock:
            process = self.process
            if self._stopping.is_set() or process is None or process.poll() is None:
                return
            now = time.monotonic()
            if self._restart_at is None:
                young = now - self._started_at < HEALTHY_AFTER_S
                self._delay_s = (
                    min(self._delay_s * 2, MAX_RESTART_DELAY_S) if young and self.restarts else RESTART_DELAY_S
                )
                self._restart_at = now + self._delay_s
                return
            if now < self._restart_at:
                return
            code = process.returncode
            self._restart_at = None
            self.restarts += 1
            self.start()
        if self.on_restart:
            self.on_restart(self, code)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        with self._lock:
            if self.process is not None:
                stop_group(self.process, timeout_s)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def stop_group(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout_s)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (it may belong to someone else: signal 0 only asks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    """Whether a live process of this process group still exists (how `up` checks it left no orphan).
    A zombie does not count: it is dead, only waiting for its parent (or init) to read its exit status."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: signal 0 reaches zombies too, so this may over-report
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone while we looked
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            return True
    return False
