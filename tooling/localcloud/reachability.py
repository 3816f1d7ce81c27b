"""Is the local cloud a shell points at still there? A cheap answer before a command builds a client.

`source up.env` outlives `up`: the client libraries then retry a dead emulator for about a minute before
they fail. A TCP connect per emulator variable answers in milliseconds (refused on loopback), so the CLI
checks them first and names the fix in one line. Tooling only: the runtime never probes, it retries.
"""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ConfigError
from tooling.localcloud.control import STATE_FILE, read_state
from tooling.localcloud.processes import pid_alive

# The variables `up.env` exports that point a client at an emulator, and what answers there.
EMULATOR_VARIABLES = {
    "FIRESTORE_EMULATOR_HOST": "Firestore emulator",
    "PUBSUB_EMULATOR_HOST": "Pub/Sub emulator",
    "STORAGE_EMULATOR_HOST": "fake-gcs-server",
    "MLOPS_EVENTS_BIGQUERY_ENDPOINT": "bqemulator",
    "AWS_ENDPOINT_URL": "moto server",
}
# Written into up.env beside the emulators' variables: which state dir's `up` the shell was pointed at.
LOCAL_CLOUD_DIR_VARIABLE = "MLOPS_EVENTS_LOCAL_CLOUD_DIR"
CONNECT_TIMEOUT_S = 0.5


class LocalCloudDown(ConfigError):
    """An emulator the environment names does not answer (typically: a shell still sourcing a dead up.env)."""


@dataclass(frozen=True)
class Endpoint:
    variable: str
    what: str
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def endpoint_of(variable: str, value: str) -> Endpoint | None:
    """`host:port` or a URL (`http://host:port`); None for a value that names no port we could probe."""
    parsed = urllib.parse.urlsplit(value if "://" in value else f"tcp://{value}")
    try:
        port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme)
    except ValueError:
        return None
    if not parsed.hostname or port is None:
        return None
    return Endpoint(variable, EMULATOR_VARIABLES.get(variable, variable), parsed.hostname, port)


def answers(endpoint: Endpoint, timeout_s: float = CONNECT_TIMEOUT_S) -> bool:
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s):
            return True
    except OSError:
        return False


def silent_endpoints(environ: Mapping[str, str], timeout_s: float = CONNECT_TIMEOUT_S) -> list[Endpoint]:
    """The emulator endpoints `environ` names that accept no connection, probed at once."""
    endpoints = [
        endpoint
        for variable in EMULATOR_VARIABLES
        if environ.get(variable) and (endpoint := endpoint_of(variable, environ[variable])) is not None
    ]
    if not endpoints:
        return []
    with ThreadPoolExecutor(max_workers=len(endpoints)) as pool:
        answered = list(pool.map(lambda e: answers(e, timeout_s), endpoints))
    return [endpoint for endpoint, ok in zip(endpoints, answered, strict=True) if not ok]


def check_emulators(environ: Mapping[str, str], timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """LocalCloudDown, one line naming the fix, when an emulator the environment points at does not answer."""
    silent = silent_endpoints(environ, timeout_s)
    if not silent:
        return
    names = ", ".join(f"{e.what} at {e.address}" for e in silent)
    variables = " ".join(e.variable for e in silent)
    state_dir = environ.get(LOCAL_CLOUD_DIR_VARIABLE)
    if not state_dir:
        raise LocalCloudDown(
            f"{names} not answering ({variables}): start it (`mlops-events up`, then `source .mlops-events/up.env`), "
            f"or unset {variables}"
        )
    folder = Path(state_dir)
    env_file = folder / "up.env"
    state = read_state(folder)
    pid = state.get("pid") if state else None
    if isinstance(pid, int) and pid_alive(pid):  # an `up` runs there now, started after this shell sourced
        raise LocalCloudDown(
            f"{names} not answering: the local cloud in {folder} (pid {pid}) runs on other ports now: "
            f"`source {env_file}` again"
        )
    why = f"{STATE_FILE} missing" if state is None else f"{STATE_FILE} left by pid {pid}, which is not running"
    raise LocalCloudDown(
        f"the local cloud in {folder} is not running ({why}; {names} not answering): "
        f"run `mlops-events up --state-dir {folder}` and `source {env_file}` again, "
        f"or unset what up.env exported ({variables}, MLOPS_EVENTS_PROFILE)"
    )
