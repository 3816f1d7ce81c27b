"""What a Python module imports, read from its source without running it.

Module-level imports run when the module is imported (eager). Imports inside a function body, or in
a `try` that catches ImportError, run only when reached (lazy): that is how `shared/deps.py` keeps a
cloud SDK out of a function that never touches it. `if TYPE_CHECKING:` imports never run.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Imports:
    eager: frozenset[str]
    lazy: frozenset[str]


def scan_imports(source: str, module: str) -> Imports:
    """`module` is the importing module's dotted name (it resolves relative imports)."""
    scanner = _Scanner(module)
    scanner.visit(ast.parse(source))
    return Imports(frozenset(scanner.eager), frozenset(scanner.lazy - scanner.eager))


def is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names or name == "__future__"


class _Scanner(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.eager: set[str] = set()
        self.lazy: set[str] = set()
        self._deferred = 0  # > 0 inside a function body or an ImportError-guarded try

    def _add(self, names: Iterable[str]) -> None:
        (self.lazy if self._deferred else self.eager).update(names)

    def visit_Import(self, node: ast.Import) -> None:
        self._add(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:  # relative: resolved against the importing module's package
            package = self.module.split(".")[: -node.level]
            base = ".".join([*package, base] if base else package)
        # `from a.b import c` imports the module a.b.c or the name c of a.b: both are kept, and whoever
        # resolves them decides which one exists.
        self._add([base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")])

    def _deferring(self, node: ast.AST) -> None:
        self._deferred += 1
        self.generic_visit(node)
        self._deferred -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _deferring

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        optional = any(_catches_import_error(handler) for handler in node.handlers)
        if optional:
            self._deferred += 1
        for child in node.body:
            self.visit(child)
        if optional:
            self._deferred -= 1
        for part in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(part)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in caught)
