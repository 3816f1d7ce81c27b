"""Which Deployments follow which ECR repository: the rollout configuration.

A YAML (or JSON) document, from a file or an SSM parameter:

    targets:
      - repository: ml/inference          # the ECR repository name
        namespace: ml-serving
        deployment: inference
        container: server                 # the container whose image is set
        policy: "semver:^1"               # all | exact:TAG | glob:PATTERN | regex:PATTERN | semver:RANGE

A repository may feed several targets (each with its own policy); a target appears once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from shared.errors import ConfigError
from shared.rollout.tag_policy import TagPolicy

# Kubernetes object names: DNS-1123 labels (namespace, container) and subdomains (deployment).
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_REPOSITORY = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")


@dataclass(frozen=True)
class RolloutTarget:
    repository: str
    namespace: str
    deployment: str
    container: str
    policy: TagPolicy

    @property
    def name(self) -> str:
        return f"{self.namespace}/{self.deployment}:{self.container}"


@dataclass(frozen=True)
class RolloutTargets:
    targets: tuple[RolloutTarget, ...]

    def following(self, repository: str) -> list[RolloutTarget]:
        return [t for t in self.targets if t.repository == repository]


def _name(entry: Mapping[str, Any], key: str, pattern: re.Pattern[str], where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(f"{where}.{key}: {value!r:.80} is not a valid {key} name")
    return value


def _policy(entry: Mapping[str, Any], where: str) -> TagPolicy:
    try:
        return TagPolicy.parse(entry.get("policy", "all"))
    except ConfigError as exc:
        raise ConfigError(f"{where}.policy: {str(exc)[:300]}") from None


def parse_targets(document: str | Mapping[str, Any], source: str) -> RolloutTargets:
    """`source` names where the document came from, for the error messages."""
    if isinstance(document, str):
        try:
            document = yaml.safe_load(document)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not YAML: {str(exc)[:300]}") from None
        except RecursionError:
            raise ConfigError(f"{source}: not YAML we read: nested past the parser's depth") from None
    if document is None:
        # An empty file or parameter is a mistake more often than a choice: it would silently stop
        # every rollout. No targets at all is written `targets: []`.
        raise ConfigError(f"{source}: is empty; expected a mapping with a 'targets' list (`targets: []` for none)")
    if not isinstance(document, Mapping) or not isinstance(document.get("targets", []), list):
        raise ConfigError(f"{source}: expected a mapping with a 'targets' list")
    targets, seen = [], set()
    for i, entry in enumerate(document.get("targets", [])):
        where = f"{source}: targets[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a mapping")
        target = RolloutTarget(
            repository=_name(entry, "repository", _REPOSITORY, where),
            namespace=_name(entry, "namespace", _LABEL, where),
            deployment=_name(entry, "deployment", _SUBDOMAIN, where),
            container=_name(entry, "container", _LABEL, where),
            policy=_policy(entry, where),
        )
        if target.name in seen:
            raise ConfigError(f"{where}: {target.name} is listed twice")
        seen.add(target.name)
        targets.append(target)
    return RolloutTargets(tuple(targets))
