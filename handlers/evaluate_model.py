"""A version's metrics.json landed in a model bucket: the quality gate decides on the version.

Its metrics are compared with those of the version the `champion` alias points to (that version's
metrics.json, read at the generation the registry recorded), under the manifest's policy
(shared/quality_gate.py). The decision is recorded in the registry; a passing version becomes
`candidate`, and `champion` too where the policy auto-promotes the env (dev may; prod never: that stays
an explicit `registry alias set`). The comparison is posted to Slack either way.

Once per metrics object version (`bucket/name#generation`), and once per content: a second upload of
the same metrics for the same version is a duplicate (its generation gets the earlier decision, so every
live metrics.json has one, which is what reconcile_registry's sweep looks for). The decision is recorded
before any alias moves, and a redelivery reuses the recorded one, so a crash after the champion moved
cannot turn the next delivery into a comparison of the version with itself.

The gate moves an alias forward only: never to a version older than the one it points at. A late decision
on an older version (its event delayed, or made up by reconcile_registry after a newer one was promoted)
is recorded and posted but moves nothing back; a rollback stays an explicit `registry alias set`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from handlers.register_model import register
from shared import slack_format as slack
from shared.errors import EventParseError, PermanentError
from shared.idempotency import run_once
from shared.model_path import ModelLocation, NotAModel, locate_model
from shared.outcome import Outcome
from shared.payloads.model_metrics import MAX_METRICS_BYTES, METRICS_FILE, parse_metrics
from shared.payloads.storage import StorageChange, StorageObjectEvent
from shared.quality_gate import GateDecision, GatePolicy, compare, parse_policy, passes

if TYPE_CHECKING:
    from shared.ports import AliasedRegistryStore, Clock, IdempotencyStore, ObjectStore, SlackNotifier

CHAMPION = "champion"
CANDIDATE = "candidate"
MOVED_BY = "evaluate_model"
REJECTED = "rejected:"  # a recorded decision's reason for a metrics.json the gate could not read


class EvaluateModelSettings(Protocol):
    @property
    def bucket_pattern(self) -> str: ...
    @property
    def claim_ttl_s(self) -> float: ...
    @property
    def gate_policy(self) -> str | None: ...


class EvaluateModelDeps(Protocol):
    @property
    def settings(self) -> EvaluateModelSettings: ...
    @property
    def objects(self) -> ObjectStore: ...
    @property
    def registry(self) -> AliasedRegistryStore: ...
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def notifier(self) -> SlackNotifier: ...
    @property
    def clock(self) -> Clock: ...


def handle(event: StorageObjectEvent, deps: EvaluateModelDeps) -> Outcome:
    # Eventarc cannot filter on the object name: every upload to the bucket comes here, and all but a
    # version's metrics.json leave at once, without a read.
    if event.change is not StorageChange.FINALIZED:
        return Outcome.ignored(f"storage change {event.change} is no new metrics", key=event.object_key)
    location = locate_model(event.bucket, event.name, deps.settings.bucket_pattern)
    if isinstance(location, NotAModel):
        return Outcome.ignored(f"not a model file: {location.reason}", key=event.object_key)
    if location.path != METRICS_FILE:
        return Outcome.ignored(f"{slack.cut(location.path)} is not the version's {METRICS_FILE}", key=event.object_key)
    policy = parse_policy(deps.settings.gate_policy)
    label = f"{location.model} v{location.version} ({location.env})"

    fresh, result = run_once(
        deps.idempotency,
        f"evaluate:{event.object_key}",
        lambda: _evaluate(event, location, policy, deps),
        clock=deps.clock,
        claim_ttl_s=deps.settings.claim_ttl_s,
    )
    if result.get("gone"):
        return Outcome.ignored(f"{label}: this {METRICS_FILE} version no longer exists", key=event.object_key)
    if not fresh:
        return Outcome.duplicate(f"already evaluated {label} from this {METRICS_FILE}", key=event.object_key)
    if result.get("same_as"):
        return Outcome.duplicate(
            f"{label}: the same metrics were evaluated already (generation {result['same_as']})",
            key=event.object_key,
        )
    verdict = "passed" if result["passed"] else "failed"
    against = f"champion v{result['champion_version']}" if result["champion_version"] is not None else "no champion"
    moved = ", ".join(f"{alias} -> v{location.version}" for alias in result["moved"]) or "no alias moved"
    return Outcome.applied(
        f"{label} {verdict} the quality gate against {against}: {moved}"
        + (f" ({result['reason']})" if result.get("reason") else ""),
        key=event.object_key,
        model=location.model,
        version=location.version,
        env=location.env,
        passed=result["passed"],
    )


def _evaluate(
    event: StorageObjectEvent, location: ModelLocation, policy: GatePolicy, deps: EvaluateModelDeps
) -> dict[str, Any]:
    raw = deps.objects.read_head(event.bucket, event.name, event.generation, MAX_METRICS_BYTES + 1)
    if raw is None:  # overwritten or deleted since: the newer generation has an event of its own
        return {"gone": True}
    metrics = parse_metrics(raw, policy.required)
    # The metrics file is a file of the version: registered here under register_model's own claim, so
    # the aliases can point at the version whichever of the two functions this event reaches first.
    register(event, location, deps)
    digest = hashlib.sha256(json.dumps(metrics, sort_keys=True).encode()).hexdigest()
    content_key = f"evaluate-content:{event.bucket}/{event.name}:{digest}"

    def decide() -> dict[str, Any]:
        decision = _decision(event, location, policy, metrics, deps)
        if not deps.registry.record_decision(decision):  # a redelivery: the recorded decision stands
            recorded = deps.registry.decisions(location.model, location.env)
            decision = next((d for d in recorded if d.record_key == decision.record_key), decision)
        refused = None
        try:
            moved = _move_aliases(decision, policy, deps) if decision.passed else []
        except PermanentError as exc:  # the version's files deleted since, say: the decision is still told
            moved, refused = [], f"aliases not moved: {exc}"
        deps.notifier.post(render(decision, moved, event, refused=refused))
        return {
            "passed": decision.passed,
            "champion_version": decision.champion_version,
            "moved": moved,
            "reason": "; ".join(r for r in (decision.reason, refused) if r),
            "generation": event.generation,
        }

    fresh, result = run_once(
        deps.idempotency, content_key, decide, clock=deps.clock, claim_ttl_s=deps.settings.claim_ttl_s
    )
    if not fresh:
        _record_same(event, location, result.get("generation"), deps)
        return {"same_as": result.get("generation")}
    return result


def _record_same(event: StorageObjectEvent, location: ModelLocation, generation: Any, deps: EvaluateModelDeps) -> None:
    """The earlier generation's decision, recorded for this one too (moving nothing, posting nothing): every
    live metrics.json then has a decision, and reconcile_registry's sweep leaves this one alone even once the
    content claim has expired."""
    earlier = f"{event.bucket}/{event.name}#{generation}"
    decision = next((d for d in deps.registry.decisions(location.model, location.env) if d.record_key == earlier), None)
    if decision is None or generation == event.generation:
        return
    deps.registry.record_decision(
        replace(
            decision,
            record_key=event.object_key,
            moved=[],
            decided_at=deps.clock().isoformat(),
            event_id=event.event_id,
            reason=f"the same metrics as generation {generation}: its decision stands",
        )
    )


def record_rejection(event: StorageObjectEvent, location: ModelLocation, error: str, deps: EvaluateModelDeps) -> bool:
    """A metrics.json the gate cannot read, recorded as a failed decision whose reason names the field: no
    comparison, no alias move, no Slack message. reconcile_registry records it so that its daily sweep
    reports the file once and never reads it again; False when that object version has a decision already."""
    return deps.registry.record_decision(
        GateDecision(
            env=location.env,
            model=location.model,
            version=location.version,
            record_key=event.object_key,
            passed=False,
            champion_version=None,
            comparisons=[],
            moved=[],
            decided_at=deps.clock().isoformat(),
            event_id=event.event_id,
            reason=f"{REJECTED} {error}",
        )
    )


def _decision(
    event: StorageObjectEvent,
    location: ModelLocation,
    policy: GatePolicy,
    metrics: dict[str, float],
    deps: EvaluateModelDeps,
) -> GateDecision:
    champion = next(
        (a.version for a in deps.registry.aliases(location.model, location.env) if a.alias == CHAMPION), None
    )
    baseline: dict[str, float] | None = None
    reason = ""
    passed = True
    if champion == location.version:
        reason = f"v{champion} is the champion already"
    elif champion is not None:
        try:
            baseline = parse_metrics(_champion_metrics(event, location, champion, deps))
        except EventParseError as exc:  # fail closed: a gate that cannot compare does not pass
            passed = False
            reason = f"champion v{champion}'s {exc}"
    comparisons = compare(policy, metrics, baseline)
    passed = passed and passes(comparisons)
    return GateDecision(
        env=location.env,
        model=location.model,
        version=location.version,
        record_key=event.object_key,
        passed=passed,
        champion_version=champion,
        comparisons=[c.as_dict() for c in comparisons],
        moved=[],
        decided_at=deps.clock().isoformat(),
        event_id=event.event_id,
        reason=reason,
    )


def _champion_metrics(event: StorageObjectEvent, location: ModelLocation, champion: int, deps: EvaluateModelDeps):
    """The champion's metrics.json at the generation the registry recorded (its live row), else as it is now."""
    name = f"{location.model}/v{champion}/{METRICS_FILE}"
    rows = deps.registry.artifacts(location.model, location.env)
    live = [
        r
        for r in rows
        if int(r["version"]) == champion
        and r["path"] == METRICS_FILE
        and not r.get("deleted_at")
        and not r.get("superseded_by_generation")
    ]
    generation = max((int(r["generation"]) for r in live), default=None)
    return deps.objects.read_head(event.bucket, name, generation, MAX_METRICS_BYTES + 1)


def _move_aliases(decision: GateDecision, policy: GatePolicy, deps: EvaluateModelDeps) -> list[str]:
    """The aliases now pointing at the version (a redelivery finds them moved already: still named).

    Forward only: an alias already on a newer version stays there, so a late decision on an older version
    (a delayed event, or one reconcile_registry made up) never moves it back."""
    aliases = [CANDIDATE] + ([CHAMPION] if policy.promotes(decision.env) else [])
    at = deps.clock()
    moved = []
    for alias in aliases:
        if alias == CHAMPION and decision.champion_version == decision.version:
            continue
        # forward_only is checked by the registry with the move itself: a newer version promoted meanwhile
        # (a live event racing a reconcile's made-up decision) stays.
        result = deps.registry.set_alias(
            decision.model, decision.env, alias, decision.version, by=MOVED_BY, at=at, forward_only=True
        )
        if result.current.version == decision.version:
            moved.append(alias)
    return moved


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def render(
    decision: GateDecision, moved: list[str], event: StorageObjectEvent, *, refused: str | None = None
) -> dict[str, Any]:
    """The comparison as a table (metric, champion, candidate, verdict). Metric names come from the
    policy and model names from the object name: every one goes in through slack.text."""
    model = slack.text(decision.model, slack.ID_MAX)
    env = slack.text(decision.env, slack.ID_MAX)
    verdict = "passed" if decision.passed else "failed"
    against = f"champion v{decision.champion_version}" if decision.champion_version is not None else "no champion yet"
    rows = [("metric", "champion", "candidate", "verdict")] + [
        (slack.text(c["metric"], 40), _number(c["champion"]), _number(c["candidate"]), str(c["verdict"]))
        for c in decision.comparisons
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    table = "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
    moves = ", ".join(f"`{alias}` → v{decision.version}" for alias in moved) or "no alias moved"
    summary = f"*{model}* v{decision.version} ({env}) {verdict} the quality gate against {against}: {moves}."
    for note in (decision.reason, refused):
        if note:
            summary += f"\n{slack.text(note, slack.PATH_MAX)}"
    text = f"{model} v{decision.version} ({env}) {verdict} the quality gate against {against}"
    blocks = [
        slack.header(f"Quality gate {verdict}: {slack.plain(decision.model, 80)} v{decision.version}"),
        slack.section(summary),
        slack.section(f"```\n{table}\n```"),
        slack.context(f"`{slack.text(f'gs://{event.bucket}/{event.name}#{event.generation}', slack.PATH_MAX)}`"),
    ]
    return {"text": slack.fallback(text), "blocks": blocks}
