"""Runs a function under the functions-framework CLI on a loopback port, as Cloud Run would serve it.

Used by the benchmarks, the tests that need a real server, and `mlops-events up`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import IO, Any

HOST = "127.0.0.1"


def write_answer(
    handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> None:
    """One answer of a local server (the emulated APIs, the control endpoint): status, headers, the body's
    length, then the body, which a HEAD request does not get."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if body and handler.command != "HEAD":
        handler.wfile.write(body)


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it; the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_function(
    source: Path,
    target: str,
    *,
    env: Mapping[str, str],
    port: int | None = None,
    stdout: IO[Any] | int | None = None,
    signature: str = "cloudevent",
    python: str = sys.executable,
    cwd: Path | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start serving `target` from `source`; returns at once (see `wait_until_listening`).
    `python`: the interpreter whose functions-framework serves it (a deploy bundle's own venv)."""
    port = port or free_port()
    command = function_command(source, target, port=port, signature=signature, python=python)
    process = subprocess.Popen(command, env=dict(env), stdout=stdout, stderr=subprocess.STDOUT, cwd=cwd)
    return process, port


def function_command(
    source: Path, target: str, *, port: int, signature: str = "cloudevent", python: str = sys.executable
) -> list[str]:
    """The functions-framework command line that serves `target` on the loopback `port`."""
    command = [python, "-m", "functions_framework", "--source", str(source), "--target", target]
    return [*command, "--signature-type", signature, "--host", HOST, "--port", str(port)]


def wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """A GET on a CloudEvent function answers 405, so readiness is the TCP port accepting."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the function exited with {process.returncode} before listening on {port}")
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {HOST}:{port} within {timeout_s} s")
