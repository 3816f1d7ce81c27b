"""Deploy bundles: `dist/<function>/`, the folder a platform deploys, and its zip.

A bundle holds `main.py` (the function's source: functions-framework's default module, and the
Lambda handler `main.<entry_point>`), the project modules it can import, `requirements.txt` with
every distribution it needs pinned to the version installed where it is built (build where the
tests ran), and `bundle.json` (how to start it, what was left out and why). A Lambda bundle also
carries those distributions, installed for Lambda's runtime: Lambda installs nothing. Terraform zips
these folders itself (archive_file, named by hash); the zip written here is the same content,
reproducible byte for byte, for `gcloud`/`aws` deploys by hand.

Only what the function uses: its manifest `extras` say which SDKs it may use; the project modules
come from following its imports (see plan.py); a project dependency is pinned only if the bundled code
imports it, with whatever that needs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tooling.bundle.distributions import PROJECT, BundleError, ModuleIndex, closure, project_extras, requirements_of
from tooling.bundle.plan import ModulePlan, plan_modules
from tooling.manifest import REPO_ROOT, FunctionSpec

__all__ = ["Bundle", "BundleError", "build_bundle", "resolve", "write_zip"]

# Data files the bundled packages read at run time (pyproject's package-data), by package: bundled with it.
PACKAGE_DATA = {"shared": ["schemas/*.json"], "shared.drift.report": ["templates/*"]}
# Lambda's runtime: what `pip install --target` fetches wheels for, whatever machine builds the bundle.
LAMBDA_WHEELS = ["--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11"]
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # a fixed timestamp: the same files make the same zip, byte for byte


@dataclass(frozen=True)
class Resolved:
    plan: ModulePlan
    pinned: dict[str, str]  # distribution -> version

    @property
    def requirements(self) -> list[str]:
        return [f"{name}=={version}" for name, version in sorted(self.pinned.items())]


@dataclass(frozen=True)
class Bundle:
    spec: FunctionSpec
    directory: Path
    zip_path: Path
    sha256: str
    resolved: Resolved

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())


def resolve(spec: FunctionSpec, root: Path = REPO_ROOT) -> Resolved:
    """The modules the function's bundle carries and the distributions it needs, pinned."""
    unknown = sorted(set(spec.extras) - set(project_extras()))
    if unknown:
        raise BundleError(f"{spec.name}: extras {unknown} are not extras of {PROJECT} (pyproject.toml)")
    declared = requirements_of(PROJECT, spec.extras)
    installable = closure(declared)
    # What any extra installs (another platform's SDK, say), as far as it is installed here; the dev
    # extra's test tools never count as a function's dependency.
    extras = [extra for extra in project_extras() if extra != "dev"]
    everything = closure(requirements_of(PROJECT, extras), installed_only=True)
    index = ModuleIndex(installable)
    plan = plan_modules(spec.name, spec.source_path, root, index, ModuleIndex(everything))
    # Pin what the bundled code imports (each with what it needs), never a declared dependency it
    # does not import: the Lambda takes no functions-framework, a function no CLI (click).
    imported = {canonicalize_name(owner) for name in plan.imports for owner in index.owners(name)}
    roots = [r for r in declared if canonicalize_name(r.name) in imported]
    roots += [Requirement(name) for name in sorted(imported - {canonicalize_name(r.name) for r in roots})]
    return Resolved(plan, closure(roots))


def build_bundle(spec: FunctionSpec, out_dir: Path, *, vendor: bool = True, root: Path = REPO_ROOT) -> Bundle:
    """Write `out_dir/<name>/` and `out_dir/<name>.zip`. `vendor=False` skips installing a Lambda
    bundle's distributions into it (a quick look at what it would hold)."""
    resolved = resolve(spec, root)
    directory = out_dir / spec.name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    shutil.copyfile(spec.source_path, directory / "main.py")
    files = dict(resolved.plan.modules)
    for package, patterns in PACKAGE_DATA.items():
        if package in files:
            folder = root.joinpath(*package.split("."))
            files |= {str(p): p for pattern in patterns for p in sorted(folder.glob(pattern))}
    for path in files.values():
        target = directory / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    (directory / "requirements.txt").write_text(
        f"# {spec.name}: written by `mlops-events build`, pinned to the versions installed where it was built.\n"
        + "".join(f"{line}\n" for line in resolved.requirements)
    )
    lambda_bundle = spec.platform == "aws-lambda"
    manifest = {
        "name": spec.name,
        "platform": spec.platform,
        "entry_point": spec.entry_point,
        "signature": spec.signature,
        "handler": f"main.{spec.entry_point}" if lambda_bundle else None,
        "extras": spec.extras,
        "vendored": lambda_bundle and vendor,
        "modules": sorted(resolved.plan.modules),
        "left_out": resolved.plan.left_out,
        "not_installed": dict(sorted(resolved.plan.not_installed.items())),
    }
    (directory / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    _precompile(directory)
    if lambda_bundle and vendor:
        _vendor(directory)
    zip_path = out_dir / f"{spec.name}.zip"
    return Bundle(spec, directory, zip_path, write_zip(directory, zip_path), resolved)


def _vendor(directory: Path) -> None:
    """Install the pinned distributions into the bundle, as wheels built for Lambda's runtime."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    command += [*LAMBDA_WHEELS, "--only-binary=:all:", "--no-compile", "--target", str(directory)]
    command += ["-r", str(directory / "requirements.txt")]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise BundleError(f"installing the Lambda bundle's distributions failed:\n{done.stderr.strip()[-2000:]}")
    shutil.rmtree(directory / "bin", ignore_errors=True)  # console scripts: Lambda never runs them


def _precompile(directory: Path) -> None:
    """The bundle's own modules as bytecode beside them: a cold start then loads them instead of compiling
    them (about 20 ms of register_model's first answer, benchmarks/cold_start.py --bundle), since a fresh
    instance has no bytecode cache. Checked by nothing at load (unchecked-hash: the deploy may change the
    files' times, not their content) and compiled under the bundle's relative paths, in a bare interpreter
    (-I -S): marshal marks objects by their reference counts, which the modules a process has loaded change
    (bpo-34093), so compiling in this process made the bytes depend on who built. Vendored distributions are
    installed without bytecode (`--no-compile`)."""
    command = [sys.executable, "-I", "-S", "-m", "compileall", "-q", "-f", "-d", ".", "--invalidation-mode"]
    done = subprocess.run([*command, "unchecked-hash", str(directory)], capture_output=True, text=True)
    if done.returncode:
        raise BundleError(f"compiling the bundle's modules failed:\n{(done.stdout + done.stderr).strip()[-2000:]}")


def _zipped(path: Path) -> bool:
    """Every file but bytecode, and of bytecode only ours (unchecked-hash: flags 0b01): bytecode Python wrote
    while the bundle ran in place (a test, a benchmark) is timestamped, and would make the zip differ."""
    if "__pycache__" not in path.parts:
        return True
    with path.open("rb") as pyc:
        return pyc.read(8)[4:8] == (1).to_bytes(4, "little")


def write_zip(directory: Path, zip_path: Path) -> str:
    """A reproducible zip (sorted entries, fixed times): the same files give the same bytes. Returns its sha256."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and _zipped(p))
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), date_time=_ZIP_TIME)
            info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return hashlib.sha256(zip_path.read_bytes()).hexdigest()
