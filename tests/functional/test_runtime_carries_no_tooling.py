"""What is deployed carries the runtime, never the developer tooling.

GIVEN the deploy bundles the CLI builds and the files the inference image copies from the repository
WHEN their contents are listed
THEN no file of `tooling/` is among them, and no module they carry imports it (import-linter checks
the same on every import in `.ci/run`; this checks the artefacts themselves).
"""

from __future__ import annotations

import re
from pathlib import Path

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
            sources += [REPO_ROOT / p for p in parts[1:-1] if not p.startswith("--")]
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
