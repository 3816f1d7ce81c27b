"""Deploy bundles run as their platform runs them, for the bundle tests.

- Unpacked from the zip `mlops-events build` wrote (the artifact that deploys) into a fresh folder.
- GCP: its `requirements.txt` installed into a fresh virtual environment with `pip install --no-deps`,
  then `pip check`: the pins alone must be complete and consistent, nothing resolved on the side. Served
  by that environment's functions-framework, from the bundle folder, as Cloud Functions serves it.
- AWS: nothing installed (Lambda installs nothing; the bundle carries its packages). The handler runs
  under awslambdaric, the runtime interface client of Lambda's Python runtime, in an environment that
  holds only that client, polling a local Runtime API (tooling/lambda_runtime_api.py).
Each process gets an environment built from nothing but what is passed: no PYTHONPATH, no test settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.log import OUTCOME_LOGGER_NAME
from tooling.delivery import HttpDelivery, send
from tooling.lambda_runtime_api import RUNTIME_INTERFACE_CLIENT, LambdaRuntimeApi
from tooling.local_server import HOST, start_function, wait_until_listening
from tooling.replay import ReplayResult, http_result, lambda_result

PIP_TIMEOUT_S = 600


def unpack(zip_path: Path, into: Path) -> Path:
    into.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(into)
    return into


def describe(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "bundle.json").read_text())


def clean_env(**settings: str) -> dict[str, str]:
    """A process environment from nothing: the system PATH, HOME, a UTF-8 locale, and `settings`."""
    return {"PATH": os.defpath, "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", **settings}


def _run(command: list[str], **kwargs: Any) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, **kwargs)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


class Environments:
    """Fresh virtual environments, one per distinct requirements file (bundles with the same pins share
    one), made once per test session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, Path] = {}
        self._lock = threading.Lock()

    def _venv(self, key: str, install: list[str]) -> Path:
        with self._lock:
            if key not in self._made:
                folder = self.root / key
                _run([sys.executable, "-m", "venv", str(folder)])
                python = folder / "bin" / "python"
                _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *install])
                _run([str(python), "-m", "pip", "check"])
                self._made[key] = python
            return self._made[key]

    def for_bundle(self, folder: Path) -> Path:
        """The interpreter that runs this bundle."""
        if describe(folder)["platform"] == "aws-lambda":
            return self._venv("lambda-runtime", [RUNTIME_INTERFACE_CLIENT])
        requirements = folder / "requirements.txt"
        pins = [line for line in requirements.read_text().splitlines() if line and not line.startswith("#")]
        key = "gcp-" + hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]
        return self._venv(key, ["--no-deps", "-r", str(requirements)])


def outcome_lines(log: Path, start: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The outcome lines a function logged to `log` after byte `start`, and where the log ends now."""
    with log.open("rb") as stream:
        stream.seek(start)
        data = stream.read()
    complete = data[: data.rfind(b"\n") + 1]
    found = []
    for line in complete.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("logger") == OUTCOME_LOGGER_NAME:
                found.append(record)
    return found, start + len(complete)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    if process.poll() is None:
        process.kill()
        process.wait()


@dataclass
class ServedBundle:
    """A GCP bundle served by functions-framework in its own environment, as Cloud Functions runs it."""

    name: str
    url: str
    log: Path
    process: subprocess.Popen[bytes]
    _read: int = 0

    def deliver(self, delivery: HttpDelivery, label: str = "") -> ReplayResult:
        status, text = send(self.url, delivery)
        lines, self._read = outcome_lines(self.log, self._read)
        return http_result(label, self.name, lines, status, text)


@contextlib.contextmanager
def serve_bundle(folder: Path, python: Path, settings: Mapping[str, str], log: Path) -> Iterator[ServedBundle]:
    bundle = describe(folder)
    with log.open("wb") as stream:
        process, port = start_function(
            folder / "main.py",
            bundle["entry_point"],
            env=clean_env(**settings),
            stdout=stream,
            signature=bundle["signature"],
            python=str(python),
            cwd=folder,
        )
    try:
        try:
            wait_until_listening(port, process, timeout_s=60)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{log.read_text(errors='replace')[-3000:]}") from None
        yield ServedBundle(bundle["name"], f"http://{HOST}:{port}/", log, process)
    finally:
        _stop(process)


@dataclass
class RunningLambda:
    """A Lambda bundle under awslambdaric, fed through a local Runtime API."""

    name: str
    api: LambdaRuntimeApi
    log: Path
    process: subprocess.Popen[bytes]
    _read: int = 0

    def invoke(self, event: Any, label: str = "", timeout_s: float = 120.0) -> tuple[ReplayResult, Any]:
        """The outcome the handler logged, and what the runtime posted back (its return value, or the
        error it reports when the handler raised)."""
        invocation = self.api.invoke(event, timeout_s=timeout_s)
        lines, self._read = outcome_lines(self.log, self._read)
        answer = invocation.error if invocation.failed else invocation.payload
        return lambda_result(label, self.name, lines, json.dumps(answer)[:300]), answer


@contextlib.contextmanager
def run_lambda(folder: Path, python: Path, settings: Mapping[str, str], log: Path) -> Iterator[RunningLambda]:
    bundle = describe(folder)
    name = bundle["name"]
    with LambdaRuntimeApi(name) as api, log.open("wb") as stream:
        # What Lambda's python3.11 runtime sets: the task root on sys.path, the function's identity.
        lambda_env = {
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "LAMBDA_TASK_ROOT": str(folder),
            "PYTHONPATH": str(folder),
            "_HANDLER": bundle["handler"],
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        }
        process = subprocess.Popen(
            [str(python), "-m", "awslambdaric", bundle["handler"]],
            cwd=folder,
            env=clean_env(**{**settings, **lambda_env}),
            stdout=stream,
            stderr=subprocess.STDOUT,
        )
        try:
            yield RunningLambda(name, api, log, process)
        finally:
            _stop(process)
