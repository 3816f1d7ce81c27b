"""How a bundle's contents are decided: imports read from source, followed through the project, cut
where a function's extras do not reach, and refused where the function would fail on deploy."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tooling.bundle import BundleError
from tooling.bundle.distributions import ModuleIndex
from tooling.bundle.imports import scan_imports
from tooling.bundle.plan import plan_modules

# -- reading imports ---------------------------------------------------------------------------------


def test_module_level_imports_are_eager_and_function_bodies_lazy():
    imports = scan_imports(
        textwrap.dedent(
            """
            import yaml
            from shared.errors import ConfigError

            def client():
                from google.cloud import firestore
                return firestore.Client()

            class Store:
                import json
                def get(self):
                    import boto3
            """
        ),
        "shared.x",
    )
    assert {"yaml", "shared.errors", "shared.errors.ConfigError", "json"} <= imports.eager
    assert {"google.cloud", "google.cloud.firestore", "boto3"} <= imports.lazy
    assert not imports.eager & imports.lazy


def test_type_checking_imports_never_run_and_guarded_ones_are_optional():
    imports = scan_imports(
        textwrap.dedent(
            """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from shared.ports import RegistryStore
            else:
                import runtime_only
            try:
                import ujson as json
            except ImportError:
                import json
            """
        ),
        "shared.x",
    )
    all_names = imports.eager | imports.lazy
    assert "shared.ports" not in all_names and "shared.ports.RegistryStore" not in all_names
    assert "runtime_only" in imports.eager
    assert "ujson" in imports.lazy and "json" in imports.eager


def test_an_import_needed_by_something_eager_is_eager_even_if_also_lazy():
    imports = scan_imports("import yaml\ndef f():\n    import yaml\n", "m")
    assert imports.eager == {"yaml"} and imports.lazy == frozenset()


def test_relative_imports_resolve_against_the_importing_package():
    imports = scan_imports("from . import sibling\nfrom ..errors import ConfigError\n", "shared.adapters.store")
    assert {"shared.adapters", "shared.adapters.sibling", "shared.errors", "shared.errors.ConfigError"} <= imports.eager


# -- following them through the project ---------------------------------------------------------------


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, source in {"shared/__init__.py": "", "handlers/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return tmp_path


# What these tests install: PyYAML for the function, and boto3 only through another extra.
INSTALLED = ModuleIndex(["pyyaml"])
DECLARED = ModuleIndex(["pyyaml", "boto3", "botocore"])


def plan(root: Path):
    return plan_modules("f", root / "main.py", root, INSTALLED, DECLARED)


def test_a_lazily_imported_adapter_whose_sdk_is_not_installed_is_left_out_with_its_reason(tmp_path):
    # GIVEN deps that reaches a YAML adapter and an AWS adapter, each only when asked for
    root = project(
        tmp_path,
        {
            "main.py": "from shared.deps import build\n",
            "shared/deps.py": """
                def build(profile):
                    if profile == "aws":
                        from shared.aws_store import AwsStore
                        return AwsStore()
                    from shared.yaml_store import YamlStore
                    return YamlStore()
            """,
            "shared/aws_store.py": "import boto3\nclass AwsStore: ...\n",
            "shared/yaml_store.py": "import yaml\nclass YamlStore: ...\n",
            "shared/unused.py": "x = 1\n",
        },
    )
    # WHEN the function's extras install PyYAML only
    result = plan(root)
    # THEN the YAML adapter goes in, the AWS one stays out (and says why), an unimported module too
    assert set(result.modules) == {"shared", "shared.deps", "shared.yaml_store"}
    assert result.left_out == {"shared.aws_store": "imports boto3, which its extras do not install"}
    assert "yaml" in result.imports and "boto3" not in result.imports


def test_a_module_is_left_out_when_something_it_imports_may_need_an_sdk_later(tmp_path):
    root = project(
        tmp_path,
        {
            "main.py": "def run():\n    from shared.profiler import profile\n",
            "shared/profiler.py": "from shared.engine import count\ndef profile(): ...\n",
            "shared/engine.py": "def count():\n    import boto3\n",
        },
    )
    result = plan(root)
    assert "shared.profiler" not in result.modules and "shared.engine" not in result.modules
    assert result.left_out["shared.profiler"] == (
        "needs shared.engine, which may import boto3, which its extras do not install"
    )


def test_an_eager_import_the_extras_do_not_install_fails_the_build(tmp_path):
    # GIVEN a handler that imports boto3 at module level, in a function whose extras lack it
    root = project(
        tmp_path,
        {"main.py": "from handlers import use_case\n", "handlers/use_case.py": "import boto3\n"},
    )
    # THEN the bundle is refused: deployed, the function would fail at import
    with pytest.raises(BundleError, match=r"needs handlers\.use_case, which imports boto3"):
        plan(root)


def test_an_import_no_extra_of_the_project_declares_fails_the_build(tmp_path):
    root = project(tmp_path, {"main.py": "def run():\n    import requests_toolbelt\n"})
    with pytest.raises(BundleError, match="imports requests_toolbelt, which no extra of the project installs"):
        plan(root)


def test_another_platforms_sdk_behind_a_branch_is_recorded_not_refused(tmp_path):
    root = project(
        tmp_path,
        {"main.py": "import shared.deps\n", "shared/deps.py": "def aws():\n    import boto3\n    return boto3\n"},
    )
    result = plan(root)
    assert result.not_installed == {"boto3": "shared.deps"}
    assert set(result.modules) == {"shared", "shared.deps"}


def test_importing_a_submodule_brings_its_packages(tmp_path):
    root = project(
        tmp_path,
        {
            "main.py": "from shared.adapters.store import Store\n",
            "shared/adapters/__init__.py": "from shared.adapters._base import Base\n",
            "shared/adapters/_base.py": "class Base: ...\n",
            "shared/adapters/store.py": "class Store: ...\n",
        },
    )
    assert set(plan(root).modules) == {"shared", "shared.adapters", "shared.adapters._base", "shared.adapters.store"}


def test_a_namespace_package_is_not_mistaken_for_the_module_below_it():
    # functions-framework installs google/cloud/functions/: that provides the namespace google.cloud,
    # never google.cloud.firestore
    index = ModuleIndex(["functions-framework"])
    assert index.provides("google.cloud") and not index.owners("google.cloud")
    assert not index.provides("google.cloud.firestore")
    assert index.owners("yaml") == set() and not index.provides("yaml")
    assert "pyyaml" in ModuleIndex(["pyyaml"]).owners("yaml.safe_load")  # a name of a module
