"""`mlops-events status` and `mlops-events down`: a running `up` seen and stopped from another shell.

Both start from up.json. An `up` counts as running only when its pid is alive *and* its control endpoint
answers with that pid: a pid reused after an `up` was killed hard must never be signalled, and a state
file such an `up` left behind is only removed.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tooling.localcloud.control import read_state, remove_state
from tooling.localcloud.processes import pid_alive
from tooling.localcloud.reachability import Endpoint, answers, endpoint_of

CONTROL_TIMEOUT_S = 2.0


class NotRunning(LookupError):
    """No `up` runs from this state dir; the message says what was found there."""


def live_state(state_dir: Path) -> dict[str, Any]:
    """What the running `up` says about itself (its control endpoint's /status), or NotRunning."""
    written = read_state(state_dir)
    if written is None:
        raise NotRunning(f"no local cloud runs from {state_dir} (no up.json): start one with `mlops-events up`")
    pid = written.get("pid")
    if not (isinstance(pid, int) and pid_alive(pid)):
        raise NotRunning(f"no local cloud runs from {state_dir}: up.json was left by pid {pid}, which is not running")
    try:
        with urllib.request.urlopen(f"{written['control_url']}/status", timeout=CONTROL_TIMEOUT_S) as response:
            state: dict[str, Any] = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        raise NotRunning(
            f"no local cloud answers from {state_dir}: pid {pid} is alive but its control endpoint "
            f"{written.get('control_url')} does not answer ({exc}); a stale up.json?"
        ) from None
    if state.get("pid") != pid:
        raise NotRunning(f"up.json in {state_dir} names pid {pid}, but its control endpoint answers for another")
    return state


@dataclass(frozen=True)
class Component:
    kind: str  # emulator | function | endpoint
    name: str
    url: str
    pid: int | None
    healthy: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("kind", "name", "url", "pid", "healthy", "detail")}


def components(state: dict[str, Any]) -> list[Component]:
    """Every emulator, function and endpoint of a running `up`, probed at once: a process that is alive and a
    port that accepts connections (a cloudevent function answers a GET with 405, so no HTTP probe)."""
    listed: list[tuple[str, str, str, int | None, str]] = []
    for name, emulator in state.get("emulators", {}).items():
        listed.append(("emulator", name, emulator["url"], emulator.get("pid"), ""))
    for name, function in state.get("functions", {}).items():
        restarts = function.get("restarts", 0)
        detail = f"restarted {restarts} times" if restarts else ""
        listed.append(("function", name, function["url"], function.get("pid"), detail))
    if state.get("kubernetes_api"):
        context = state.get("kubernetes_context")  # --kubeconfig: the user's cluster
        note = f"context {context}" if context else ""
        listed.append(("endpoint", "kubernetes API", state["kubernetes_api"], None, note))
    webhook = state.get("slack_webhook_url", "")
    if webhook.startswith("http://"):
        listed.append(("endpoint", "slack receiver", webhook.split("/services/")[0], None, ""))

    def probe(item: tuple[str, str, str, int | None, str]) -> Component:
        kind, name, url, pid, detail = item
        endpoint: Endpoint | None = endpoint_of(name, url)
        if pid is not None and not pid_alive(pid):
            return Component(kind, name, url, pid, False, _join("process gone", detail))
        if endpoint is None or not answers(endpoint, timeout_s=1.0):
            return Component(kind, name, url, pid, False, _join("not accepting connections", detail))
        return Component(kind, name, url, pid, True, detail)

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(listed)))) as pool:
        return list(pool.map(probe, listed))


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def stop(state_dir: Path, timeout_s: float, sleep: Callable[[float], None] = time.sleep) -> tuple[int, float]:
    """SIGTERM the `up` running from `state_dir` (it stops as on Ctrl-C) and wait for it to exit; returns its pid
    and the seconds it took. NotRunning (after removing a stale up.json and up.env) when none runs; TimeoutError
    when it is still there after `timeout_s`."""
    try:
        state = live_state(state_dir)
    except NotRunning:
        written = read_state(state_dir)
        pid = written.get("pid") if written else None
        if written is not None and not (isinstance(pid, int) and pid_alive(pid)):
            remove_state(state_dir)  # left by an `up` that was killed: the files only mislead
        raise
    pid = state["pid"]
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while pid_alive(pid) and not _reaped(pid):
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"the local cloud (pid {pid}) is still stopping after {timeout_s:.0f} s")
        sleep(0.1)
    written = read_state(state_dir)
    if written is None or written.get("pid") == pid:
        remove_state(state_dir)  # up removes both itself; this covers an `up` that died while stopping
    return pid, time.monotonic() - started


def _reaped(pid: int) -> bool:
    """A zombie (our own child, in tests) has exited: it only waits for its parent to read its status."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] == "Z"


def uptime(started_at: str | None, now: float | None = None) -> str:
    """`2h 05m`, `3m 12s`, `41s` since an ISO time; '' when unknown."""
    if not started_at:
        return ""
    from datetime import datetime

    try:
        began = datetime.fromisoformat(started_at).timestamp()
    except ValueError:
        return ""
    seconds = max(0, int((now if now is not None else time.time()) - began))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"
