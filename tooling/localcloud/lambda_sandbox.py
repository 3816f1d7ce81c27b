"""One Lambda execution environment, as `up` runs its Lambda: the handler under awslambdaric, the runtime
interface client of Lambda's Python runtime, fed by a local Runtime API (tooling/lambda_runtime_api.py), held
to the manifest's `timeout_s` and `memory`.

- **Timeout**: an invocation with no answer when its `timeout_s` runs out is killed (SIGKILL to the runtime
  and what it started) and answered as Lambda answers it: `Sandbox.Timedout`, `Task timed out after N.NN
  seconds`.
- **Memory**, without a cgroup: Lambda's limit is a cgroup on the sandbox's resident memory. Here a watchdog
  reads the runtime's peak resident set (`VmHWM`, plus its children's `VmRSS`) every 20 ms while an
  invocation runs and kills the environment once it passes the function's memory: `Runtime.OutOfMemory`.
  Not RLIMIT_AS: that limits address space, which Python's thread stacks and malloc arenas reserve far
  beyond what they touch, so a limit equal to the function's memory would fail what Lambda runs. VmHWM is
  the peak, so a spike between two reads is still caught, only after it happened: an allocation far past the
  limit can reach the machine's memory before the kill.
- **A crash** (the runtime exits during an invocation): `Runtime.ExitError`, `Runtime exited with error:
  exit status N` (or `signal: killed`).
- **Init**: the module is imported when the environment starts (Lambda's init phase); one that fails
  answers the invocation with the runtime's own error (`Runtime.ImportModuleError`...).
After any of them the environment is gone and the next one starts, as Lambda starts a new environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooling.lambda_runtime_api import InitError, Invocation, LambdaRuntimeApi

INIT_TIMEOUT_S = 10.0  # Lambda's init phase; a slower one is retried within the invocation's timeout
MEMORY_POLL_S = 0.02
# How Lambda (its Go runtime manager) names the signal that ended a runtime.
_SIGNALLED = {signal.SIGKILL: "killed", signal.SIGTERM: "terminated", signal.SIGSEGV: "segmentation fault",
              signal.SIGABRT: "aborted"}  # fmt: skip


class SandboxFailure(Exception):
    """The environment failed the invocation (not the handler): Lambda's error type, its message, REPORT's status."""

    def __init__(self, error_type: str, message: str, status: str = "error") -> None:
        super().__init__(message)
        self.error_type, self.message, self.status = error_type, message, status


@dataclass(frozen=True)
class RuntimeConfig:
    name: str
    handler: str  # module.function, Lambda's Handler
    task_root: Path
    timeout_s: float
    memory_mb: int
    env: Mapping[str, str] = field(default_factory=dict)
    extra_path: tuple[str, ...] = ()  # after the task root on PYTHONPATH (the repository, for `shared`)
    region: str = "us-east-1"
    account: str = "000000000000"
    runtime: str = "python3.11"
    python: str = sys.executable


def runtime_available(python: str = sys.executable) -> bool:
    """Whether awslambdaric can run here (the `local` extra installs it on Linux; it has no macOS wheel)."""
    if python == sys.executable:
        import importlib.util

        return importlib.util.find_spec("awslambdaric") is not None
    done = subprocess.run([python, "-c", "import awslambdaric"], capture_output=True, timeout=30)
    return done.returncode == 0


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            found += [int(child) for child in task.read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    """What the process started, and what those started (read before a kill: orphans are re-parented)."""
    found, todo = [], _children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += _children(child)
    return found


class Environment:
    """One runtime process and the Runtime API that feeds it."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.api = LambdaRuntimeApi(config.name, region=config.region, account=config.account)
        path = os.pathsep.join([str(config.task_root), *config.extra_path])
        lambda_env = {
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "LAMBDA_TASK_ROOT": str(config.task_root),
            "PYTHONPATH": path,
            "_HANDLER": config.handler,
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(config.timeout_s)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{os.getpid()}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
            "AWS_REGION": config.env.get("AWS_REGION", config.region),
            "AWS_DEFAULT_REGION": config.env.get("AWS_DEFAULT_REGION", config.region),
            "PYTHONUNBUFFERED": "1",
        }
        self.started = time.monotonic()
        self.init_ms: float | None = None
        self.invocations = 0  # the first one reports the init's duration, as Lambda's REPORT does
        self._peak_mb = 0.0
        # stdout and stderr are the caller's (the function's log); same process group: `up` stops both.
        self.process = subprocess.Popen(
            [config.python, "-m", "awslambdaric", config.handler],
            cwd=config.task_root,
            env={**config.env, **lambda_env},
            stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_init(self, timeout_s: float = INIT_TIMEOUT_S) -> None:
        """Until the runtime asks for its first event; SandboxFailure if it fails, exits or takes too long."""
        deadline = time.monotonic() + timeout_s
        while not self.api.init_over.wait(0.05):
            self._check_exit()
            if time.monotonic() > deadline:
                raise SandboxFailure("Runtime.InitTimeout", f"the runtime's init took more than {timeout_s:.0f} s")
        if self.api.init_error is not None:
            error = self.api.init_error
            raise SandboxFailure(str(error.get("errorType", "Runtime.Unknown")), str(error.get("errorMessage", error)))
        if self.init_ms is None:
            self.init_ms = (time.monotonic() - self.started) * 1000

    def invoke(self, event: Any, request_id: str) -> Invocation:
        """The handler's answer (its return value, or the error it raised); SandboxFailure when the environment
        fails it (timeout, memory, crash)."""
        timeout_s = self.config.timeout_s
        self.invocations += 1
        try:
            return self.api.invoke(event, timeout_s=timeout_s, request_id=request_id, watch=self._watch)
        except TimeoutError:
            self.kill()
            raise SandboxFailure(
                "Sandbox.Timedout", f"Task timed out after {timeout_s:.2f} seconds", "timeout"
            ) from None
        except InitError as exc:
            error = self.api.init_error or {}
            raise SandboxFailure(str(error.get("errorType", "Runtime.Unknown")), str(exc)) from None

    def _watch(self) -> None:
        self._check_exit()
        if self.peak_mb() > self.config.memory_mb:
            self.kill()
            raise SandboxFailure("Runtime.OutOfMemory", "Runtime exited with error: signal: killed")

    def _check_exit(self) -> None:
        code = self.process.poll()
        if code is not None:
            how = (
                f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
                if code < 0
                else f"exit status {code}"
            )
            raise SandboxFailure("Runtime.ExitError", f"Runtime exited with error: {how}")

    def peak_mb(self) -> float:
        """The runtime's peak resident memory, plus what its children hold now (MB); once it is gone, the
        last seen."""
        if self.alive():
            kb = _status_kb(self.pid, "VmHWM") + sum(_status_kb(child, "VmRSS") for child in descendants(self.pid))
            self._peak_mb = max(self._peak_mb, kb / 1024)
        return self._peak_mb

    def kill(self) -> None:
        """SIGKILL the runtime and what it started; stop its Runtime API."""
        if self.alive():  # never a pid already reaped: it may be another process's by now
            self.peak_mb()
            for pid in [*descendants(self.pid), self.pid]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.api.close()
