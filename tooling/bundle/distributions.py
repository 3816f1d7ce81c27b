"""The distributions installed here, seen as the cloud runtime would need them.

A bundle's requirements are pinned to the versions installed here (the ones the tests ran with, when
the bundle is built where they ran).
Markers are evaluated for the runtime both clouds use (CPython 3.11 on x86_64 Linux), not this machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from shared.errors import ConfigError

PROJECT = "mlops-events"
# Cloud Functions python311 and Lambda python3.11, both x86_64 Linux.
TARGET_MARKERS = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


class BundleError(ConfigError):
    """A bundle that cannot be built as asked: say what is missing and where."""


@cache
def _distribution(name: str) -> metadata.Distribution:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise BundleError(
            f"{name} is not installed here: install the project with `pip install -e '.[deploy]'`"
        ) from None


def is_installed(name: str) -> bool:
    try:
        _distribution(name)
    except BundleError:
        return False
    return True


def version(name: str) -> str:
    return _distribution(name).version


def requirements_of(name: str, extras: Iterable[str] = ()) -> list[Requirement]:
    """What `name[extras]` requires on the target runtime."""
    found = []
    environments = [{**TARGET_MARKERS, "extra": extra} for extra in (*extras, "")]
    for line in _distribution(name).requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
            found.append(requirement)
    return found


def project_extras() -> list[str]:
    return list(_distribution(PROJECT).metadata.get_all("Provides-Extra") or [])


def closure(roots: Iterable[Requirement], *, installed_only: bool = False) -> dict[str, str]:
    """Every distribution the roots need on the target, canonical name -> the version installed here.
    `installed_only`: what of it is installed, whatever its version (to know the modules, not to pin)."""
    pinned: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    pending = list(roots)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if name in pinned and extras <= extras_seen[name]:
            continue
        if installed_only and not is_installed(name):
            continue
        installed = version(name)
        if not installed_only and not requirement.specifier.contains(installed, prereleases=True):
            raise BundleError(f"{requirement} is needed but {name} {installed} is installed")
        pinned[name] = installed
        extras_seen.setdefault(name, set()).update(extras)
        pending.extend(requirements_of(name, sorted(extras_seen[name])))
    return pinned


@cache
def modules_of(name: str) -> tuple[frozenset[str], frozenset[str]]:
    """(modules, namespaces): the dotted names a distribution installs that can be imported as modules
    (a .py file, an extension, a package with __init__), and the namespace folders above them
    (`google`, `google.cloud`), which belong to no distribution in particular."""
    modules: set[str] = set()
    folders: set[str] = set()
    for file in _distribution(name).files or []:
        parts = file.parts
        if not parts or parts[0] == ".." or any(p.endswith((".dist-info", ".data")) for p in parts):
            continue
        leaf = parts[-1]
        if leaf.endswith(".py"):
            stem = leaf[:-3]
        elif leaf.endswith((".so", ".pyd")):
            stem = leaf.split(".")[0]
        else:
            continue
        dotted = [*parts[:-1], stem]
        if stem == "__init__":
            dotted = dotted[:-1]
        if dotted:
            modules.add(".".join(dotted))
        folders.update(".".join(parts[:depth]) for depth in range(1, len(parts)))
    return frozenset(modules), frozenset(folders - modules)


class ModuleIndex:
    """Which of a set of distributions provides an imported name."""

    def __init__(self, distributions: Iterable[str]) -> None:
        self._owners: dict[str, set[str]] = {}
        self._namespaces: set[str] = set()
        for name in distributions:
            modules, namespaces = modules_of(name)
            for module in modules:
                self._owners.setdefault(module, set()).add(name)
            self._namespaces |= namespaces

    def owners(self, imported: str) -> set[str]:
        """The distributions providing `imported`: the module itself, or the module it is a name of."""
        if imported in self._owners:
            return self._owners[imported]
        parent = imported.rpartition(".")[0]
        return self._owners.get(parent, set()) if parent not in self._namespaces else set()

    def provides(self, imported: str) -> bool:
        return bool(self.owners(imported)) or imported in self._namespaces
