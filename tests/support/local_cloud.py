"""Runs `mlops-events up` as a user does (its own process, its own console) and reads what it reports:
up.json (where everything runs), events.jsonl (every delivery), slack-posts.jsonl (the local Slack)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tooling.manifest import REPO_ROOT

READY_TIMEOUT_S = 180.0


class RunningUp:
    def __init__(self, process: subprocess.Popen[bytes], state_dir: Path, output: Path) -> None:
        self.process, self.state_dir, self.output = process, state_dir, output
        self.state: dict[str, Any] = {}

    @classmethod
    def start(cls, folder: Path, *args: str) -> RunningUp:
        state_dir, output = folder / "state", folder / "up-console.txt"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_EVENTS_")}
        env["COLUMNS"] = "200"  # rich wraps at 80 columns on a pipe: keep one event per line
        with output.open("wb") as console:
            process = subprocess.Popen(
                [sys.executable, "-m", "tooling.cli.main", "up", "--state-dir", str(state_dir), *args],
                stdout=console,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO_ROOT,
            )
        running = cls(process, state_dir, output)
        running._wait_ready()
        return running

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        state_file = self.state_dir / "up.json"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"up exited with {self.process.returncode}:\n{self.console()}")
            if state_file.is_file():
                self.state = json.loads(state_file.read_text())
                return
            time.sleep(0.2)
        self.interrupt()
        raise RuntimeError(f"up was not ready in {READY_TIMEOUT_S:.0f} s:\n{self.console()}")

    def console(self) -> str:
        return self.output.read_text(errors="replace")

    @property
    def client_env(self) -> dict[str, str]:
        """What a client process sets to reach the emulators (what `source up.env` exports)."""
        env = {"GOOGLE_CLOUD_PROJECT": self.state["project"]}
        for emulator in self.state["emulators"].values():
            env.update(emulator["env"])
        return env

    def _jsonl(self, name: str) -> list[dict[str, Any]]:
        path = self.state_dir / name
        if not path.is_file():
            return []
        text = path.read_text()
        complete = text[: text.rfind("\n") + 1]  # a line `up` is still writing is read next time
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def events(self) -> list[dict[str, Any]]:
        return self._jsonl("events.jsonl")

    def slack_posts(self) -> list[dict[str, Any]]:
        return self._jsonl("slack-posts.jsonl")

    def wait_for(self, found: Callable[[list[dict[str, Any]]], Any], what: str, timeout_s: float = 30.0) -> Any:
        """Poll events.jsonl until `found(events)` is truthy; fail naming `what` and showing the console."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = found(self.events())
            if result:
                return result
            time.sleep(0.1)
        raise AssertionError(f"no {what} within {timeout_s:.0f} s; console:\n{self.console()[-4000:]}")

    def posts_about(self, text: str, at_least: int = 1, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The local Slack's posts mentioning `text`, once there are `at_least` (all of them, then)."""
        deadline = time.monotonic() + timeout_s
        while True:
            posts = [p for p in self.slack_posts() if text in json.dumps(p)]
            if len(posts) >= at_least or time.monotonic() > deadline:
                return posts
            time.sleep(0.1)

    def interrupt(self, timeout_s: float = 60.0) -> int:
        """Ctrl-C, as a user stops it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
