"""Session fixtures shared by the functional and integration tiers: the deploy bundles, built once by
the CLI as a user builds them, and the fresh environments they run in."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.bundles import Environments, unpack


@pytest.fixture(scope="session")
def built_bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mlops-events build --all` into a fresh folder: OUT/<function>/ and OUT/<function>.zip."""
    out = tmp_path_factory.mktemp("dist")
    cli = Path(sys.executable).parent / "mlops-events"
    done = subprocess.run([str(cli), "build", "--all", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="session")
def unpacked_bundle(built_bundles: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A function's bundle as it deploys: its zip unpacked into a fresh folder (once per session)."""
    unpacked: dict[str, Path] = {}

    def folder(name: str) -> Path:
        if name not in unpacked:
            unpacked[name] = unpack(built_bundles / f"{name}.zip", tmp_path_factory.mktemp("bundle") / name)
        return unpacked[name]

    return folder


@pytest.fixture(scope="session")
def bundle_environments(tmp_path_factory: pytest.TempPathFactory) -> Environments:
    return Environments(tmp_path_factory.mktemp("venvs"))


@pytest.fixture(autouse=True)
def _fresh_secret_registry() -> Iterator[None]:
    """Each test starts with no secret remembered, as a fresh process does (shared.secret_values)."""
    from shared.secret_values import forget_secrets

    forget_secrets()
    yield
    forget_secrets()
