"""The running local cloud's front door: `up.json` in the state dir says where everything runs (and `up.env`
what a shell exports to reach the emulators), and a small HTTP server takes `POST /jobs/JOB:run`
(`mlops-events trigger JOB`) and `GET /status`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tooling.local_server import HOST, write_answer

STATE_FILE = "up.json"
ENV_FILE = "up.env"


class UnknownJob(LookupError):
    """`trigger` named a job the manifest does not have; carries the known ones."""

    def __init__(self, name: str, jobs: list[str]) -> None:
        super().__init__(name)
        self.name, self.jobs = name, jobs


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, run_job: Callable[[str], None], status: Callable[[], dict[str, Any]]) -> None:
        """`run_job` raises UnknownJob for a job the manifest does not have."""
        self.run_job, self.status = run_job, status
        super().__init__((HOST, 0), _Handler)
        self.url = f"http://{HOST}:{self.server_address[1]}"

    def stop(self) -> None:
        """Stop serving (serve_forever runs in a thread of `up`) and close the socket."""
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ControlServer

    def do_POST(self) -> None:
        prefix, suffix = "/jobs/", ":run"
        if not (self.path.startswith(prefix) and self.path.endswith(suffix)):
            return self._answer(404, {"error": f"no such endpoint {self.path}"})
        name = self.path[len(prefix) : -len(suffix)]
        try:
            self.server.run_job(name)
        except UnknownJob as unknown:
            return self._answer(404, {"error": f"no job {name!r}", "jobs": unknown.jobs})
        except Exception as exc:  # the job's publish failed: say so to `trigger`, not as a dropped connection
            return self._answer(500, {"error": f"job {name!r} did not fire: {type(exc).__name__}: {exc}"})
        return self._answer(200, {"job": name, "fired": True})

    def do_GET(self) -> None:
        if self.path == "/status":
            return self._answer(200, self.server.status())
        return self._answer(404, {"error": f"no such endpoint {self.path}"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        write_answer(self, status, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def log_message(self, format: str, *args: Any) -> None:  # the console shows events, not control traffic
        pass


def read_state(state_dir: Path) -> dict[str, Any] | None:
    """What a running `up` wrote about itself; None when none runs from this state dir."""
    try:
        return json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def write_state(state_dir: Path, state: dict[str, Any], exports: Mapping[str, str]) -> None:
    """up.json (replaced whole, so a reader never sees half of it) and up.env, `exports` for a shell."""
    temporary = state_dir / f".{STATE_FILE}.tmp"
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(temporary, state_dir / STATE_FILE)
    lines = [f"export {k}={v}" for k, v in sorted(exports.items())]
    (state_dir / ENV_FILE).write_text("\n".join(lines) + "\n")


def remove_state(state_dir: Path) -> None:
    """Both files go together: an up.env left behind would point a shell at emulators that are gone."""
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    (state_dir / ENV_FILE).unlink(missing_ok=True)
