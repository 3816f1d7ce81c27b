"""Which project modules a function's bundle carries, and which distributions they import.

Start from the function's source and follow its imports through `shared/` and `handlers/`:
- an eager import must work with the function's extras, or the build fails (it would fail on deploy);
- a lazy import of a project module is followed only if that module, lazy imports included, works
  with the function's extras. That is how a GCP function leaves the AWS adapters out and the Lambda
  the Google ones: `shared/deps.py` names every adapter, but imports each only when a profile asks.
- a lazy third-party import the extras do not install is allowed only if another extra of the project
  installs it (another platform's SDK, behind a branch this function never takes); anything else is an
  undeclared dependency and fails the build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tooling.bundle.distributions import BundleError, ModuleIndex
from tooling.bundle.imports import Imports, is_stdlib, scan_imports

PROJECT_PACKAGES = ("shared", "handlers")


@dataclass
class ModulePlan:
    modules: dict[str, Path] = field(default_factory=dict)  # dotted name -> source file
    imports: set[str] = field(default_factory=set)  # third-party modules (or names) the bundled code may import
    left_out: dict[str, str] = field(default_factory=dict)  # project module -> why it is not bundled
    not_installed: dict[str, str] = field(default_factory=dict)  # lazy import -> the module that has it


def project_module_path(name: str, root: Path) -> Path | None:
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


class _Planner:
    def __init__(self, function: str, root: Path, installed: ModuleIndex, declared: ModuleIndex) -> None:
        self.function, self.root = function, root
        self.installed = installed  # what the function's extras install
        self.declared = declared  # what any extra of the project installs
        self.plan = ModulePlan()
        self._scanned: dict[str, Imports] = {}
        self._importable: dict[str, str | None] = {}
        self._complete: dict[str, str | None] = {}

    def imports_of(self, name: str, path: Path) -> Imports:
        if name not in self._scanned:
            self._scanned[name] = scan_imports(path.read_text(), name)
        return self._scanned[name]

    def missing(self, names: Iterable[str]) -> list[str]:
        return sorted(n for n in names if not self._is_project_or_stdlib(n) and not self.installed.provides(n))

    def _is_project_or_stdlib(self, name: str) -> bool:
        return is_stdlib(name) or name.split(".")[0] in PROJECT_PACKAGES

    def why_not_importable(self, name: str) -> str | None:
        """None if importing `name` works with the function's extras, else why not."""
        if name not in self._importable:
            self._importable[name] = None  # a cycle is importable if the rest of it is
            eager = self.imports_of(name, self._path(name)).eager
            lacking = self.missing(eager)
            self._importable[name] = (
                f"imports {', '.join(lacking)}, which its extras do not install"
                if lacking
                else self._first_failing(eager, self.why_not_importable)
            )
        return self._importable[name]

    def why_not_complete(self, name: str) -> str | None:
        """None if `name` imports, and what it and the modules it imports may import later installs too."""
        if name not in self._complete:
            self._complete[name] = None  # a cycle is complete if the rest of it is
            imports = self.imports_of(name, self._path(name))
            lacking = self.missing(imports.lazy)
            self._complete[name] = self.why_not_importable(name) or (
                f"may import {', '.join(lacking)}, which its extras do not install"
                if lacking
                else self._first_failing(imports.eager, self.why_not_complete)
            )
        return self._complete[name]

    def _first_failing(self, names: Iterable[str], check: Callable[[str], str | None]) -> str | None:
        for child in sorted(names):
            if project_module_path(child, self.root) is not None and (reason := check(child)):
                return f"needs {child}, which {reason}"
        return None

    def _path(self, name: str) -> Path:
        path = project_module_path(name, self.root)
        assert path is not None, name
        return path

    def include_entry(self, imports: Imports, source: str) -> None:
        if lacking := self.missing(imports.eager):
            raise BundleError(f"{self.function}: {source} imports {', '.join(lacking)}, not in its extras")
        self._follow("main", imports, source)

    def _include(self, name: str, path: Path) -> None:
        if name in self.plan.modules:
            return
        self.plan.modules[name] = path
        for parent in _parents(name):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            if (parent_path := project_module_path(parent, self.root)) is not None:
                self._include(parent, parent_path)
        self._follow(name, self.imports_of(name, path), str(path.relative_to(self.root)))

    def _follow(self, name: str, imports: Imports, where: str) -> None:
        # Names of real modules (or of names in them); a namespace (`google.cloud`) tells nothing.
        third_party = {n for n in imports.eager | imports.lazy if not self._is_project_or_stdlib(n)}
        self.plan.imports |= {n for n in third_party if self.installed.owners(n)}
        for lazy in self.missing(imports.lazy):
            if not self.declared.provides(lazy):
                raise BundleError(f"{self.function}: {where} imports {lazy}, which no extra of the project installs")
            self.plan.not_installed.setdefault(lazy, name)
        for child in sorted(imports.eager | imports.lazy):
            child_path = project_module_path(child, self.root)
            if child_path is None:
                continue
            if child in imports.eager:
                if reason := self.why_not_importable(child):
                    raise BundleError(f"{self.function}: {where} needs {child}, which {reason}")
            elif reason := self.why_not_complete(child):
                self.plan.left_out.setdefault(child, reason)
                continue
            self._include(child, child_path)


def plan_modules(function: str, entry: Path, root: Path, installed: ModuleIndex, declared: ModuleIndex) -> ModulePlan:
    """The project modules `entry` (the function's source, `main.py` in the bundle) can import."""
    planner = _Planner(function, root, installed, declared)
    planner.include_entry(scan_imports(entry.read_text(), "main"), str(entry.relative_to(root)))
    plan = planner.plan
    plan.left_out = {k: v for k, v in sorted(plan.left_out.items()) if k not in plan.modules}
    return plan
