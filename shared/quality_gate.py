"""The quality gate: a candidate version's metrics against the champion's, under the manifest's policy.

The policy (manifest env `MLOPS_EVENTS_GATE_POLICY`, JSON) names each metric the gate reads:

    {"metrics": {"auc": {"direction": "higher", "tolerance": 0.01, "required": true},
                 "log_loss": {"direction": "lower", "tolerance": "5%"}},
     "auto_promote": ["dev"]}

`direction`: which way is better. `tolerance`: how far worse than the champion still passes, absolute
(a number) or relative to the champion's value (`"5%"`). `required`: the metrics file must have it.
A metric both versions have is compared, and one worse past its tolerance fails the version; one the
champion lacks has no baseline and does not block. `auto_promote`: the envs where a passing version
becomes `champion` too (dev may; prod promotion stays an explicit `registry alias set`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.errors import ConfigError

POLICY_VARIABLE = "MLOPS_EVENTS_GATE_POLICY"
# The manifest's policy (functions/manifest.yaml, evaluate_model's env), for where no deploy set the
# variable (replay, the demo, the embedded profile); tests/unit/shared/test_quality_gate.py holds the two equal.
DEFAULT_POLICY = {
    "metrics": {
        "auc": {"direction": "higher", "tolerance": 0.01, "required": True},
        "accuracy": {"direction": "higher", "tolerance": "2%", "required": False},
        "log_loss": {"direction": "lower", "tolerance": "5%", "required": False},
    },
    "auto_promote": ["dev"],
}
# Never promoted by the gate itself, whatever a policy says.
PROTECTED_ENVS = frozenset({"prod"})
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)%")


class Verdict(StrEnum):
    BETTER = "better"
    SAME = "same"
    WITHIN = "within tolerance"
    WORSE = "worse"
    NO_BASELINE = "no baseline"
    NOT_REPORTED = "not reported"


@dataclass(frozen=True)
class MetricRule:
    name: str
    higher_is_better: bool
    tolerance: float
    relative: bool = False
    required: bool = False

    def allowed(self, champion: float) -> float:
        """How far worse than `champion` the candidate may be."""
        return abs(champion) * self.tolerance if self.relative else self.tolerance

    def describe(self) -> str:
        arrow = "higher" if self.higher_is_better else "lower"
        tolerance = f"{self.tolerance * 100:g}%" if self.relative else f"{self.tolerance:g}"
        return f"{arrow} is better, tolerance {tolerance}"


@dataclass(frozen=True)
class GatePolicy:
    rules: tuple[MetricRule, ...]
    auto_promote: frozenset[str] = frozenset()

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rules if r.required)

    def promotes(self, env: str) -> bool:
        return env in self.auto_promote


@dataclass(frozen=True)
class Comparison:
    metric: str
    champion: float | None
    candidate: float | None
    verdict: Verdict

    @property
    def blocks(self) -> bool:
        return self.verdict is Verdict.WORSE

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "champion": self.champion, "candidate": self.candidate, "verdict": self.verdict}


def compare(policy: GatePolicy, candidate: dict[str, float], champion: dict[str, float] | None) -> list[Comparison]:
    """One comparison per policy metric, in the policy's order. `champion` None: there is none yet."""
    out = []
    for rule in policy.rules:
        mine = candidate.get(rule.name)
        theirs = champion.get(rule.name) if champion is not None else None
        if mine is None:
            verdict = Verdict.NOT_REPORTED
        elif theirs is None:
            verdict = Verdict.NO_BASELINE
        else:
            gain = (mine - theirs) if rule.higher_is_better else (theirs - mine)
            if gain > 0:
                verdict = Verdict.BETTER
            elif gain == 0:
                verdict = Verdict.SAME
            elif -gain <= rule.allowed(theirs) * (1 + 1e-12):  # 0.90 vs 0.91 at 0.01 passes despite float error
                verdict = Verdict.WITHIN
            else:
                verdict = Verdict.WORSE
        out.append(Comparison(rule.name, theirs, mine, verdict))
    return out


def passes(comparisons: list[Comparison]) -> bool:
    return not any(c.blocks for c in comparisons)


@dataclass(frozen=True)
class GateDecision:
    """One gate decision, recorded in the registry once per metrics object version (`record_key`)."""

    env: str
    model: str
    version: int
    record_key: str  # the metrics.json object version: bucket/name#generation
    passed: bool
    champion_version: int | None
    comparisons: list[dict[str, Any]]
    moved: list[str]  # the aliases moved to this version
    decided_at: str  # ISO
    event_id: str = ""
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "model": self.model,
            "version": self.version,
            "record_key": self.record_key,
            "passed": self.passed,
            "champion_version": self.champion_version,
            "comparisons": self.comparisons,
            "moved": self.moved,
            "decided_at": self.decided_at,
            "event_id": self.event_id,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> GateDecision:
        champion = doc.get("champion_version")
        return cls(
            env=doc["env"],
            model=doc["model"],
            version=int(doc["version"]),
            record_key=doc["record_key"],
            passed=bool(doc["passed"]),
            champion_version=int(champion) if champion is not None else None,
            comparisons=list(doc.get("comparisons") or []),
            moved=list(doc.get("moved") or []),
            decided_at=str(doc["decided_at"]),
            event_id=doc.get("event_id") or "",
            reason=doc.get("reason") or "",
        )


# -- the policy, from the manifest's env -------------------------------------------------------------
def _rule(name: Any, spec: Any) -> MetricRule:
    where = f"{POLICY_VARIABLE}: metrics.{str(name)[:60]}"
    if not isinstance(name, str) or not name or not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a metric name with {{direction, tolerance, required}}")
    unknown = set(spec) - {"direction", "tolerance", "required"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    direction = spec.get("direction")
    if direction not in ("higher", "lower"):
        raise ConfigError(f"{where}.direction: expected higher or lower, got {direction!r:.40}")
    raw = spec.get("tolerance", 0)
    relative = False
    if isinstance(raw, str) and (match := _PERCENT.fullmatch(raw.strip())):
        tolerance, relative = float(match.group(1)) / 100, True
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        tolerance = float(raw)
    else:
        raise ConfigError(f"{where}.tolerance: expected a number (absolute) or a percentage like '5%'")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ConfigError(f"{where}.tolerance: must be a finite number, not negative")
    required = spec.get("required", False)
    if not isinstance(required, bool):
        raise ConfigError(f"{where}.required: expected true or false")
    return MetricRule(name, direction == "higher", tolerance, relative, required)


def parse_policy(text: str | None) -> GatePolicy:
    """The policy from its JSON (None: DEFAULT_POLICY); ConfigError (not the event's fault: redelivered once
    fixed) when bad."""
    if text is None:
        return policy_from(DEFAULT_POLICY)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{POLICY_VARIABLE}: not JSON ({exc})") from None
    return policy_from(document)


def policy_from(document: Any) -> GatePolicy:
    if not isinstance(document, dict) or not isinstance(document.get("metrics"), dict) or not document["metrics"]:
        raise ConfigError(f'{POLICY_VARIABLE}: expected {{"metrics": {{name: rule, ...}}, "auto_promote": [env]}}')
    unknown = set(document) - {"metrics", "auto_promote"}
    if unknown:
        raise ConfigError(f"{POLICY_VARIABLE}: unknown keys {sorted(unknown)}")
    envs = document.get("auto_promote", [])
    if not isinstance(envs, list) or not all(isinstance(e, str) and e for e in envs):
        raise ConfigError(f"{POLICY_VARIABLE}: auto_promote: expected a list of env names")
    if PROTECTED_ENVS & set(envs):
        raise ConfigError(f"{POLICY_VARIABLE}: auto_promote: prod promotion stays an explicit `registry alias set`")
    return GatePolicy(tuple(_rule(n, s) for n, s in document["metrics"].items()), frozenset(envs))
