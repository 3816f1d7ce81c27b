"""The deploy bundles: what `mlops-events build` writes is what deploys, and it runs.

Each bundle is unpacked from its zip into a fresh folder and run the way its platform runs it (see
tests/support/bundles.py): a GCP function by functions-framework in a fresh virtual environment holding only its
pinned requirements, the Lambda under AWS's runtime interface client with only its own vendored packages.
Every fixture of the function is replayed through it, in order, and must come out as it does through the
source tree; everything the bundled code may import must import there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from shared.adapters.local_object_store import LocalObjectStore
from tests.support.bundles import clean_env, describe, run_lambda, serve_bundle
from tooling.bundle import build_bundle, resolve, write_zip
from tooling.delivery import delivery_from_fixture
from tooling.demo import seed_local_buckets
from tooling.manifest import REPO_ROOT, load_manifest
from tooling.replay import Replayer

SPECS = load_manifest()
GCP = [s for s in SPECS if s.platform == "gcp-function"]
LAMBDAS = [s for s in SPECS if s.platform == "aws-lambda"]
TARGETS = REPO_ROOT / "events" / "ecr" / "targets.yaml"
# Distributions that belong to one platform only.
AWS_ONLY = {"boto3", "botocore", "aws-lambda-powertools", "kubernetes", "pydantic"}
GCP_ONLY = {"functions-framework", "flask", "gunicorn", "google-cloud-storage", "google-cloud-firestore"}
NEVER = {"torch", "fastapi", "uvicorn-standard", "pytest", "moto", "mlops-events"}


def pinned(folder: Path) -> dict[str, str]:
    lines = (folder / "requirements.txt").read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if line and not line.startswith("#"))


def fresh_state(path: Path) -> Path:
    """An embedded profile's state folder whose local buckets hold the sample objects, and nothing else."""
    shutil.rmtree(path, ignore_errors=True)
    seed_local_buckets(LocalObjectStore(path / "buckets"))
    return path


def embedded(state: Path) -> dict[str, str]:
    return {
        "MLOPS_EVENTS_PROFILE": "embedded",
        "MLOPS_EVENTS_STATE_DIR": str(state),
        "MLOPS_EVENTS_ROLLOUT_TARGETS_FILE": str(TARGETS),
    }


@pytest.fixture
def source_profile(monkeypatch):
    """The same settings for the in-process replay of the source tree, and no cluster from the shell."""

    def apply(state: Path) -> None:
        for name, value in embedded(state).items():
            monkeypatch.setenv(name, value)
        for name in ("KUBECONFIG", "MLOPS_EVENTS_KUBECONFIG", "MLOPS_EVENTS_SLACK_WEBHOOK_URL"):
            monkeypatch.delenv(name, raising=False)

    return apply


# -- what a bundle holds ------------------------------------------------------------------------------


def test_the_build_writes_a_folder_and_an_identical_zip_per_function(built_bundles):
    assert sorted(p.stem for p in built_bundles.glob("*.zip")) == sorted(s.name for s in SPECS)
    for spec in SPECS:
        folder = built_bundles / spec.name
        files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        with zipfile.ZipFile(built_bundles / f"{spec.name}.zip") as archive:
            assert set(archive.namelist()) == files
            assert archive.read("main.py") == spec.source_path.read_bytes()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_bundle_pins_every_distribution_of_its_platform_and_no_other(spec, unpacked_bundle):
    folder = unpacked_bundle(spec.name)
    pins = pinned(folder)
    assert pins and all(version and "," not in version for version in pins.values())
    assert not pins.keys() & NEVER
    if spec.platform == "aws-lambda":
        assert {"aws-lambda-powertools", "boto3", "kubernetes"} <= pins.keys()
        assert not pins.keys() & GCP_ONLY and not any(name.startswith("google-") for name in pins)
        # Lambda installs nothing: the bundle carries exactly the pinned distributions, at those versions.
        installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions(path=[str(folder)])}
        assert installed == pins
    else:
        assert {"functions-framework", "google-cloud-firestore"} <= pins.keys()
        assert not pins.keys() & AWS_ONLY
        assert not list(folder.glob("*.dist-info"))  # Cloud Functions installs requirements.txt itself
    assert ({"duckdb", "numpy"} <= pins.keys()) == ("drift" in spec.extras)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_bundle_holds_the_modules_its_function_can_import_and_says_what_it_left_out(spec, unpacked_bundle):
    folder = unpacked_bundle(spec.name)
    bundle = describe(folder)
    modules = set(bundle["modules"])
    on_disk = {
        ".".join(p.relative_to(folder).with_suffix("").parts).removesuffix(".__init__")
        for top in ("shared", "handlers")
        for p in (folder / top).rglob("*.py")
    }
    assert on_disk == modules
    assert {"shared.deps", "shared.runtime", f"handlers.{spec.entry_point.removesuffix('_http')}"} & modules
    # Tools of the repository, never of a deployed function.
    assert not {m for m in modules if m.startswith(("tooling.cli", "tooling.bundle", "tooling.replay", "tooling.demo"))}
    other_platform = (
        "shared.adapters.firestore_registry" if spec.platform == "aws-lambda" else "shared.adapters.powertools_once"
    )
    assert other_platform in bundle["left_out"] and other_platform not in modules
    assert bundle["handler"] == ("main.handler" if spec.platform == "aws-lambda" else None)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_bundle_carries_the_data_files_its_modules_read(spec, unpacked_bundle):
    folder = unpacked_bundle(spec.name)
    modules = set(describe(folder)["modules"])
    templates = sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "shared/drift/report/templates").iterdir())
    assert templates, "the drift report's templates"
    for path in templates:  # the report renders from them: without, the run fails at its first report
        assert (folder / path).is_file() == ("shared.drift.report" in modules), path
        if "shared.drift.report" in modules:
            assert (folder / path).read_bytes() == (REPO_ROOT / path).read_bytes()
    assert (folder / "shared/schemas/ml_monitoring.drift_runs.json").is_file()


def test_the_same_sources_build_the_same_zip_byte_for_byte(tmp_path):
    spec = next(s for s in GCP if s.name == "register_model")
    first = build_bundle(spec, tmp_path / "a")
    second = build_bundle(spec, tmp_path / "b")
    assert first.sha256 == second.sha256
    assert (tmp_path / "a" / "register_model.zip").read_bytes() == (tmp_path / "b" / "register_model.zip").read_bytes()


def test_the_zip_does_not_depend_on_what_the_building_process_had_imported(tmp_path):
    # GIVEN two builds of register_model in fresh processes, one of which first imports a pile of libraries
    # (marshal marks objects by reference count, which other loaded modules change: bpo-34093)
    script = """
import sys
for name in sys.argv[2].split(",") if sys.argv[2] else []:
    __import__(name)
from tooling.bundle import build_bundle
from tooling.manifest import load_manifest
spec = next(s for s in load_manifest() if s.name == "register_model")
print(build_bundle(spec, __import__("pathlib").Path(sys.argv[1])).sha256)
"""
    heavy = "google.cloud.firestore,google.cloud.bigquery,numpy,duckdb,pytest"
    digests = [
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / name), imports],
            capture_output=True, text=True, check=True, cwd=REPO_ROOT,
        ).stdout.strip()
        for name, imports in (("plain", ""), ("heavy", heavy))
    ]  # fmt: skip

    # THEN the zips are the same bytes
    assert digests[0] == digests[1] and len(digests[0]) == 64


def test_a_bundle_carries_its_own_modules_compiled_and_only_those(tmp_path):
    # GIVEN register_model's bundle, built
    spec = next(s for s in GCP if s.name == "register_model")
    bundle = build_bundle(spec, tmp_path / "dist")
    tag = sys.implementation.cache_tag
    with zipfile.ZipFile(bundle.zip_path) as archive:
        names = set(archive.namelist())

    # THEN every module it carries has its bytecode beside it (a cold start loads it rather than compile it),
    # checked by hash and never by time, and the running interpreter takes it as it is
    sources = sorted(n for n in names if n.endswith(".py"))
    assert "main.py" in sources and "shared/adapters/google_rest.py" in sources
    for source in sources:
        folder, _, file = source.rpartition("/")
        pyc = f"{folder + '/' if folder else ''}__pycache__/{file[:-3]}.{tag}.pyc"
        assert pyc in names, source
    pyc_path = bundle.directory / "__pycache__" / f"main.{tag}.pyc"
    assert pyc_path.read_bytes()[4:8] == (1).to_bytes(4, "little")  # hash-based, unchecked

    # AND bytecode Python writes later, as a test or benchmark running the bundle in place does, stays out:
    # the zip is the same, byte for byte
    import py_compile

    py_compile.compile(str(bundle.directory / "main.py"), cfile=str(pyc_path))  # a timestamped one instead
    again = write_zip(bundle.directory, tmp_path / "again.zip")
    with zipfile.ZipFile(tmp_path / "again.zip") as archive:
        assert f"__pycache__/main.{tag}.pyc" not in archive.namelist()
    assert again != bundle.sha256


# -- the bundle runs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_everything_the_bundled_code_may_import_imports_in_its_environment(spec, unpacked_bundle, bundle_environments):
    # GIVEN the bundle in the environment its platform gives it
    folder = unpacked_bundle(spec.name)
    python = bundle_environments.for_bundle(folder)
    names = sorted(resolve(spec).plan.imports)  # third-party, lazy ones included (the cloud profile's SDKs)
    script = """
import importlib, json, sys
modules, names = json.loads(sys.argv[1])
failed = []
for name in modules:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {exc!r}")
for name in names:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        parent, _, attr = name.rpartition(".")
        try:
            if not hasattr(importlib.import_module(parent), attr):
                failed.append(f"{name}: no such module or name")
        except Exception as exc:
            failed.append(f"{name}: {exc!r}")
    except Exception as exc:
        failed.append(f"{name}: {exc!r}")
print(json.dumps(failed))
"""
    # WHEN every bundled module, and every third-party name they import, is imported there
    done = subprocess.run(
        [str(python), "-c", script, json.dumps([describe(folder)["modules"], names])],
        cwd=folder,
        env=clean_env(PYTHONPATH=str(folder)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    # THEN nothing is missing
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert len(names) > 10


@pytest.mark.parametrize("spec", GCP, ids=lambda s: s.name)
def test_the_served_bundle_answers_every_fixture_as_the_source_does(
    spec, unpacked_bundle, bundle_environments, source_profile, tmp_path
):
    fixtures = spec.fixture_files()
    state = tmp_path / "state"  # one path for both runs: details may name it
    # GIVEN the source tree's answers, in order, through the real app in this process
    source_profile(fresh_state(state))
    replayer = Replayer()
    want = [replayer.deliver(spec, delivery_from_fixture(f), label=f.name) for f in fixtures]

    # WHEN the same fixtures go, in the same order, to the bundle served in its own environment
    folder = unpacked_bundle(spec.name)
    python = bundle_environments.for_bundle(folder)
    with serve_bundle(folder, python, embedded(fresh_state(state)), tmp_path / "function.log") as served:
        got = [served.deliver(delivery_from_fixture(f), f.name) for f in fixtures]

    # THEN it answers each one the same: outcome, HTTP status, detail
    assert [(r.event, r.outcome, r.http_status, r.detail) for r in got] == [
        (r.event, r.outcome, r.http_status, r.detail) for r in want
    ]
    assert {r.outcome for r in got} <= {"applied", "duplicate", "ignored", "rejected"}
    assert "applied" in {r.outcome for r in got}


@pytest.mark.parametrize("spec", LAMBDAS, ids=lambda s: s.name)
def test_the_lambda_bundle_under_the_runtime_client_answers_every_fixture_as_the_source_does(
    spec, unpacked_bundle, bundle_environments, source_profile, tmp_path
):
    fixtures = spec.fixture_files()
    events = [json.loads(f.read_text()) for f in fixtures]
    state = tmp_path / "state"
    source_profile(fresh_state(state))
    replayer = Replayer()
    want = [replayer.invoke(spec, event, label=f.name) for f, event in zip(fixtures, events, strict=True)]

    folder = unpacked_bundle(spec.name)
    python = bundle_environments.for_bundle(folder)
    with run_lambda(folder, python, embedded(fresh_state(state)), tmp_path / "function.log") as function:
        got = [function.invoke(event, f.name) for f, event in zip(fixtures, events, strict=True)]

    assert [(r.event, r.outcome, r.detail) for r, _ in got] == [(r.event, r.outcome, r.detail) for r in want]
    # What the runtime posted back is the handler's return value: the same outcome
    assert [(answer["outcome"], answer["detail"]) for _, answer in got] == [(r.outcome, r.detail) for r, _ in got]
    assert "applied" in {r.outcome for r, _ in got}


def test_a_lambda_handler_that_raises_is_reported_to_the_runtime_as_an_error(
    unpacked_bundle, bundle_environments, tmp_path
):
    # GIVEN the Lambda bundle whose targets file does not exist (a configuration error, retried by Lambda)
    spec = LAMBDAS[0]
    folder = unpacked_bundle(spec.name)
    python = bundle_environments.for_bundle(folder)
    settings = {**embedded(fresh_state(tmp_path / "state")), "MLOPS_EVENTS_ROLLOUT_TARGETS_FILE": str(tmp_path / "no")}
    event = json.loads((REPO_ROOT / "events/ecr/01-push-inference-1.2.0.json").read_text())
    with run_lambda(folder, python, settings, tmp_path / "function.log") as function:
        # WHEN a push arrives
        result, answer = function.invoke(event, "push")
    # THEN the invocation fails with the error type and message the handler raised (Lambda retries it)
    assert result.outcome == "error"
    assert answer["errorType"] == "ConfigError" and str(tmp_path / "no") in answer["errorMessage"]
