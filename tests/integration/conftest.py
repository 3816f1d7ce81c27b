"""Real emulators for the adapter tests: each starts once per session, state is reset per test.

An emulator whose binary is missing skips its tests with the reason, except in CI (CI=true), where
a missing emulator is a failure: CI must never go green by skipping the only real-backend tests.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.bigquery_inserts import StreamingInserts
from shared.adapters.firestore_rest import FirestoreRest
from shared.adapters.gcs_object_store import GcsObjectStore
from shared.adapters.google_rest import FixedToken, GoogleApi, JsonHttp, emulator_base
from shared.artifact_format import ArtifactFormat
from shared.model_registry import ModelArtifact, ObjectRef
from tooling.localcloud import emulators

PROJECT = "mlops-events-test"

_STARTERS: dict[str, Callable[[], emulators.Emulator]] = {
    "firestore_emulator": lambda: emulators.start_firestore(PROJECT),
    "gcs_emulator": emulators.start_fake_gcs,
    "bigquery_emulator": lambda: emulators.start_bqemulator(PROJECT),
    "own_pubsub_emulator": lambda: emulators.start_pubsub(PROJECT),
    "pubsub_emulator": lambda: emulators.start_pubsub(PROJECT),
    "moto_server": emulators.start_moto,
}
_starting: dict[str, Future[emulators.Emulator]] = {}


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """A run stopped with SIGTERM (a CI timeout, `timeout`) still stops its emulators.

    Python skips atexit and fixture teardown on SIGTERM, which would leave the Java emulators running;
    as a KeyboardInterrupt, pytest tears down and the emulators' atexit hooks run.
    """
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: start only what will run
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the emulators the selected tests need side by side, so the session waits for the slowest only."""
    wanted = {name for item in items for name in getattr(item, "fixturenames", ()) if name in _STARTERS}
    if not wanted:
        return
    pool = ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix="emulator-start")
    for name in sorted(wanted):
        _starting[name] = pool.submit(_STARTERS[name])
    pool.shutdown(wait=False)


def _started(name: str) -> emulators.Emulator:
    future = _starting.pop(name, None)
    try:
        return future.result() if future is not None else _STARTERS[name]()
    except emulators.EmulatorNotInstalled as exc:
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail(f"emulator not installed in CI: {exc}")
        pytest.skip(f"emulator not installed: {exc}")


@pytest.fixture(scope="session")
def session_env() -> Iterator[pytest.MonkeyPatch]:
    """Client variables (FIRESTORE_EMULATOR_HOST, ...) for this session only, undone at its end."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _serve(name: str, env: pytest.MonkeyPatch) -> Iterator[emulators.Emulator]:
    emulator = _started(name)
    for variable, value in emulator.env.items():
        # Only the SDKs' own variables: MLOPS_EVENTS_* settings are per test (monkeypatch), so that
        # unit tests later in the same session still see the defaults.
        if variable.endswith("_EMULATOR_HOST"):
            env.setenv(variable, value)
    try:
        yield emulator
    finally:
        emulator.stop()


# -- Pub/Sub -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pubsub_emulator(session_env: pytest.MonkeyPatch) -> Iterator[emulators.Emulator]:
    yield from _serve("pubsub_emulator", session_env)


@pytest.fixture
def own_pubsub_emulator() -> Iterator[emulators.Emulator]:
    """A Pub/Sub emulator the test owns and may stop (started early, beside the others)."""
    emulator = _started("own_pubsub_emulator")
    try:
        yield emulator
    finally:
        emulator.stop()


# -- Firestore -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def firestore_emulator(session_env: pytest.MonkeyPatch) -> Iterator[emulators.Emulator]:
    yield from _serve("firestore_emulator", session_env)


@pytest.fixture(scope="session")
def firestore_client(firestore_emulator: emulators.Emulator) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    return firestore.Client(project=PROJECT, credentials=AnonymousCredentials())


def firestore_rest(sdk_client: Any) -> FirestoreRest:
    """The functions' REST client on the same emulator and project as an SDK client (the oracle tests read with)."""
    api = GoogleApi(emulator_base(os.environ["FIRESTORE_EMULATOR_HOST"]) + "v1/", FixedToken("owner"), JsonHttp())
    return FirestoreRest(api, sdk_client.project)


@pytest.fixture
def firestore_db(firestore_emulator: emulators.Emulator, firestore_client: Any) -> Any:
    """An empty database for each test."""
    emulators.reset_firestore(firestore_emulator, PROJECT)
    return firestore_client


# -- GCS -----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def gcs_emulator(session_env: pytest.MonkeyPatch) -> Iterator[emulators.Emulator]:
    yield from _serve("gcs_emulator", session_env)


@pytest.fixture(scope="session")
def storage_client(gcs_emulator: emulators.Emulator) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=gcs_emulator.url),
    )


def gcs_store(*, page_size: int = 1000) -> GcsObjectStore:
    """The functions' object store (GCS's JSON API over REST) on fake-gcs-server (STORAGE_EMULATOR_HOST)."""
    api = GoogleApi(emulator_base(os.environ["STORAGE_EMULATOR_HOST"]), FixedToken(), JsonHttp())
    return GcsObjectStore(api, PROJECT, page_size=page_size)


@pytest.fixture
def bucket(storage_client: Any) -> str:
    """A new, empty bucket for each test."""
    name = f"ml-models-it-{uuid.uuid4().hex[:12]}"
    storage_client.create_bucket(name)
    return name


# -- BigQuery ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def bigquery_emulator(session_env: pytest.MonkeyPatch) -> Iterator[emulators.Emulator]:
    yield from _serve("bigquery_emulator", session_env)


@pytest.fixture(scope="session")
def bigquery_client(bigquery_emulator: emulators.Emulator) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bigquery_emulator.url),
    )


def streaming_inserts(bigquery_client: Any) -> StreamingInserts:
    """The registry's appends (insertAll over REST) on the bqemulator an SDK client talks to."""
    base = emulator_base(bigquery_client._connection.API_BASE_URL) + "bigquery/v2/"
    return StreamingInserts(GoogleApi(base, FixedToken(), JsonHttp()))


@pytest.fixture
def bigquery_table_id(bigquery_client: Any) -> str:
    """A table id in a new dataset for each test (the adapter's ensure_table creates both)."""
    return f"{PROJECT}.ml_registry_{uuid.uuid4().hex[:12]}.models"


# -- AWS (moto server) ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def moto_server() -> Iterator[emulators.Emulator]:
    emulator = _started("moto_server")
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def aws(moto_server: emulators.Emulator, monkeypatch: pytest.MonkeyPatch) -> emulators.Emulator:
    """A blank moto for each test, and the AWS variables that point boto3 (and powertools) at it."""
    emulators.reset_moto(moto_server)
    for variable, value in moto_server.env.items():
        monkeypatch.setenv(variable, value)
    return moto_server


# -- domain objects ------------------------------------------------------------------------------
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def make_artifact() -> Callable[..., ModelArtifact]:
    """A ModelArtifact for `gs://ml-models-{env}/{model}/v{version}/{path}#{generation}`."""

    def make(
        *,
        env: str = "dev",
        model: str = "resnet",
        version: int = 1,
        path: str = "model.safetensors",
        generation: int = 1000,
        registered_at: datetime = T0,
        metadata: dict[str, str] | None = None,
    ) -> ModelArtifact:
        bucket = f"ml-models-{env}"
        return ModelArtifact(
            env=env,
            model=model,
            version=version,
            path=path,
            ref=ObjectRef(bucket, f"{model}/v{version}/{path}", generation),
            format=ArtifactFormat("safetensors", False, "x", True),
            registered_at=registered_at,
            event_id=f"evt-{generation}",
            metageneration=1,
            size=128,
            md5_hash="md5==",
            crc32c="crc==",
            content_type="application/octet-stream",
            metadata=metadata if metadata is not None else {"uploader": "ci"},
            uploader="ci",
            object_time=registered_at,
        )

    return make
