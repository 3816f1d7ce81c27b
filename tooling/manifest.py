"""`functions/manifest.yaml`: the one list of functions, read here, by Terraform and by the tests."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shared.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = REPO_ROOT / "functions" / "manifest.yaml"


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    platform: str
    source: str
    entry_point: str
    signature: str
    trigger: dict[str, Any]
    fixtures: list[str]
    description: str = ""
    retry: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    extras: list[str] = field(default_factory=list)
    secrets: list[dict[str, str]] = field(default_factory=list)
    timeout_s: int | None = None

    @property
    def source_path(self) -> Path:
        return REPO_ROOT / self.source

    @property
    def event_types(self) -> list[str]:
        return list(self.trigger.get("event_types", []))

    def owns_fixture(self, path: Path) -> bool:
        try:
            relative = path.resolve().relative_to(REPO_ROOT).as_posix()
        except ValueError:
            return False
        return any(fnmatch.fnmatch(relative, pattern) for pattern in self.fixtures)

    def fixture_files(self) -> list[Path]:
        return sorted({p for pattern in self.fixtures for p in REPO_ROOT.glob(pattern) if p.is_file()})


def load_manifest(path: Path = MANIFEST_PATH) -> list[FunctionSpec]:
    raw = yaml.safe_load(path.read_text())
    specs = []
    for entry in raw.get("functions", []):
        try:
            specs.append(
                FunctionSpec(
                    name=entry["name"],
                    platform=entry["platform"],
                    source=entry["source"],
                    entry_point=entry["entry_point"],
                    signature=entry.get("signature", "cloudevent"),
                    trigger=entry["trigger"],
                    fixtures=list(entry.get("fixtures", [])),
                    description=entry.get("description", ""),
                    retry=entry.get("retry", {}),
                    env=entry.get("env", {}),
                    extras=list(entry.get("extras", [])),
                    secrets=list(entry.get("secrets", [])),
                    timeout_s=entry.get("timeout_s"),
                )
            )
        except KeyError as exc:
            raise ConfigError(f"{path}: function {entry.get('name', '?')} lacks {exc}") from None
    return specs


def function_named(name: str, specs: list[FunctionSpec] | None = None) -> FunctionSpec:
    for spec in specs or load_manifest():
        if spec.name == name:
            return spec
    raise ConfigError(f"no function {name!r} in {MANIFEST_PATH.name}")
