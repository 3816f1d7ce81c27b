"""What is deployed carries the runtime, never the developer tooling.

GIVEN the deploy bundles the CLI builds, the files the inference image copies from the repository, and
the built images themselves (when Docker is here and they are: containers/inference/test-image builds
them and runs these tests with INFERENCE_IMAGES naming them, which makes a missing image a failure)
WHEN their contents are listed
THEN no file of `tooling/` is among them, and no module they carry imports it (import-linter checks
the same on every import in `.ci/run`; this checks the artefacts themselves).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path, PurePosixPath

import pytest

from tooling.manifest import REPO_ROOT, load_manifest

DOCKERFILE = REPO_ROOT / "containers" / "inference" / "Dockerfile"
IMPORTS_TOOLING = re.compile(r"^\s*(from\s+tooling[\s.]|import\s+tooling\b)", re.MULTILINE)


def image_sources() -> list[Path]:
    """The repository paths the image's COPY instructions take from the build context (the repo root)."""
    sources = []
    for line in DOCKERFILE.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
            sources += [REPO_ROOT / p for p in parts[1:-1] if not p.startswith(("--", "$"))]
    return sources


def test_the_inference_image_copies_no_tooling():
    sources = image_sources()
    assert REPO_ROOT / "shared" in sources and REPO_ROOT / "containers/inference/mlops_inference" in sources
    files = [p for source in sources for p in ([source] if source.is_file() else source.rglob("*")) if p.is_file()]
    assert not [p for p in files if p.is_relative_to(REPO_ROOT / "tooling")]
    importing = [p for p in files if p.suffix == ".py" and IMPORTS_TOOLING.search(p.read_text())]
    assert importing == [], f"copied into the image, and importing the tooling: {importing}"


@pytest.mark.parametrize("spec", load_manifest(), ids=lambda s: s.name)
def test_a_deploy_bundle_carries_no_tooling(spec, unpacked_bundle):
    folder = unpacked_bundle(spec.name)
    assert not (folder / "tooling").exists()
    importing = [
        p for p in folder.rglob("*.py") if "site-packages" not in p.parts and IMPORTS_TOOLING.search(p.read_text())
    ]
    assert importing == []


# The tags test-image gives the images it builds (the service target and the lambda target).
BUILT_IMAGES = ("mlops-events/inference:test", "mlops-events/inference-lambda:test")
PROJECT_PACKAGES = ("shared", "handlers", "functions", "mlops_inference")


def image_files(docker: str, tag: str) -> tuple[set[PurePosixPath], dict[PurePosixPath, str]]:
    """Every path in the image's filesystem (`docker export` of a container created from it, never started),
    and the text of each .py file of the project's packages wherever they were installed."""
    name = f"file-list-{uuid.uuid4().hex[:12]}"
    subprocess.run([docker, "create", "--name", name, tag], check=True, capture_output=True)
    paths: set[PurePosixPath] = set()
    sources: dict[PurePosixPath, str] = {}
    try:
        with subprocess.Popen([docker, "export", name], stdout=subprocess.PIPE) as export:
            with tarfile.open(fileobj=export.stdout, mode="r|") as archive:
                for member in archive:
                    path = PurePosixPath(member.name.removeprefix("./"))
                    paths.add(path)
                    in_project = any(part in PROJECT_PACKAGES for part in path.parts)
                    if member.isfile() and path.suffix == ".py" and in_project:
                        sources[path] = archive.extractfile(member).read().decode(errors="replace")
            export.stdout.read()  # the padding after the archive's end: taken, so that export ends by itself
        assert export.returncode == 0, f"docker export exited {export.returncode}"
    finally:
        subprocess.run([docker, "rm", "--force", name], capture_output=True)
    return paths, sources


@pytest.mark.parametrize("tag", [t for t in os.environ.get("INFERENCE_IMAGES", ",".join(BUILT_IMAGES)).split(",") if t])
def test_a_built_inference_image_carries_no_tooling(tag):
    required = "INFERENCE_IMAGES" in os.environ
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "image", "inspect", tag], capture_output=True).returncode:
        if required:
            pytest.fail(f"INFERENCE_IMAGES names {tag}, and no Docker daemon here has it")
        pytest.skip(f"{tag} not built here (containers/inference/test-image builds it), or no Docker daemon")

    paths, sources = image_files(docker, tag)

    # where the project was installed: the folder holding mlops_inference (the venv's site-packages, or
    # the Lambda task root)
    roots = {p.parent for p in paths if p.name == "mlops_inference" and (p / "app.py") in paths}
    assert len(roots) == 1, f"mlops_inference installed in {sorted(map(str, roots))}"
    (root,) = roots
    assert {root / package for package in PROJECT_PACKAGES} <= paths
    assert not [p for p in paths if p.is_relative_to(root / "tooling")]
    # nor anywhere else: no file of the repository's tooling/ under any folder named tooling
    tooling_files = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "tooling").rglob("*.py")}
    copied = [
        p for p in paths if "tooling" in p.parts and "/".join(p.parts[p.parts.index("tooling") :]) in tooling_files
    ]
    assert copied == [], f"the repository's tooling in the image: {copied[:10]}"
    importing = [p for p, text in sources.items() if p.is_relative_to(root) and IMPORTS_TOOLING.search(text)]
    assert importing == [], f"in the image, and importing the tooling: {importing}"
