"""An ECR push rolls the Deployments that follow its repository to the pushed digest, watches them the
way `kubectl rollout status` does, and rolls back the ones that fail.

Once per repository + digest (a second tag on the same digest is the same image): the targets whose
policy accepts the tag are patched to `<registry>/<repo>@<digest>` (the tag, the push time and the
previous image kept in annotations), unless they already run that digest (no-op) or run a later push
(stale: a delayed event never moves a Deployment backwards). All patched targets are then watched
together within the Lambda's remaining time; a failed one is rolled back to its previous pod template,
and one still rolling out when the time is up is recorded as pending, with the command to finish it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared import slack_format as slack
from shared.events.ecr import ImagePush, OtherEcrEvent
from shared.outcome import Outcome
from shared.rollout import deployment as k8s
from shared.rollout.status import RolloutPhase, rollout_status

if TYPE_CHECKING:
    from shared.ports import Clock, DeploymentCluster, OnceRunner, RolloutJournal, SlackNotifier
    from shared.rollout.targets import RolloutTarget, RolloutTargets

log = logging.getLogger(__name__)
# Outcomes per target: what happened to it, in words a dashboard can group by.
STARTED, SUCCEEDED, ROLLED_BACK, PENDING, FAILED = "started", "succeeded", "rolled_back", "pending", "failed"
PLANNED, NOOP, STALE, MISSING, ROLLING_BACK = "planned", "noop", "stale", "missing", "rolling_back"
# Worth a message: something moved, or a target is misconfigured. No-ops and stale events are not.
NOTIFY = frozenset({SUCCEEDED, ROLLED_BACK, PENDING, FAILED, PLANNED, MISSING})


class RolloutSettings(Protocol):
    rollout_poll_s: float  # between two reads of a Deployment's status
    rollout_margin_s: float  # kept back from the Lambda's remaining time to record and notify


class TargetsSource(Protocol):
    def load(self) -> RolloutTargets: ...


class RolloutDeps(Protocol):
    settings: RolloutSettings
    rollout_targets: TargetsSource
    cluster: DeploymentCluster
    rollout_once: OnceRunner
    rollout_journal: RolloutJournal
    notifier: SlackNotifier
    clock: Clock
    sleep: Callable[[float], None]


@dataclass
class TargetRun:
    """One target through the rollout; `status` moves started -> succeeded | rolling_back -> ..."""

    target: RolloutTarget
    status: str
    message: str
    old_image: str | None = None
    old_tag: str | None = None
    notes: dict[str, str] = field(default_factory=dict)

    def as_dict(self, push: ImagePush) -> dict[str, Any]:
        return {
            "target": self.target.name,
            "repository": push.repository,
            "status": self.status,
            "message": self.message,
            "old_image": self.old_image,
            "old_tag": self.old_tag,
            "new_image": push.image,
            "new_tag": push.tag,
        }


def _short(image: str | None) -> str:
    digest = k8s.digest_of(image)
    return digest[:19] if digest else (image or "unknown")


def _finish_hint(target: RolloutTarget) -> str:
    return (
        f"finish with `kubectl -n {target.namespace} rollout status deployment/{target.deployment}`"
        f" (and `kubectl -n {target.namespace} rollout undo deployment/{target.deployment}` if it fails)"
    )


def _start(push: ImagePush, target: RolloutTarget, cluster: DeploymentCluster) -> TargetRun:
    current = cluster.get_deployment(target.namespace, target.deployment)
    if current is None:
        return TargetRun(target, MISSING, f"deployment {target.namespace}/{target.deployment} not found")
    old_image = k8s.container_image(current, target.container)
    if old_image is None:
        return TargetRun(target, MISSING, f"deployment {target.deployment} has no container {target.container!r}")
    notes = k8s.annotations(current)
    run = TargetRun(target, STARTED, "", old_image, notes.get(k8s.IMAGE_TAG) or None)
    if k8s.digest_of(old_image) == push.digest:
        run.status, run.message = NOOP, f"already runs {push.digest[:19]}"
        return run
    running_since = notes.get(k8s.PUSHED_AT)
    if running_since and push.pushed_at < datetime.fromisoformat(running_since):
        run.status, run.message = STALE, f"runs a later push ({running_since}); this one is from {push.pushed_at}"
        return run
    cause = f"ECR push {push.repository}:{push.tag or '(untagged)'} {push.digest[:19]} (event {push.event_id})"
    change = {
        k8s.CHANGE_CAUSE: cause,
        k8s.IMAGE_TAG: push.tag or "",
        k8s.PUSHED_AT: push.pushed_at.isoformat(),
        k8s.PREVIOUS_IMAGE: old_image,
        k8s.EVENT_ID: push.event_id,
    }
    cluster.patch_deployment(target.namespace, target.deployment, k8s.image_patch(target.container, push.image, change))
    run.message = f"patched from {_short(old_image)}"
    return run


def _roll_back(run: TargetRun, current: dict[str, Any], cluster: DeploymentCluster, why: str) -> None:
    selector = ((current.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    previous = k8s.previous_template(current, cluster.list_replicasets(run.target.namespace, selector))
    if previous is None:
        run.status, run.message = FAILED, f"{why}; no previous revision to roll back to"
        return
    revision, template = previous
    notes = {k8s.ROLLED_BACK_FROM: k8s.container_image(current, run.target.container) or ""}
    patch = k8s.rollback_patch(current, template, notes)
    cluster.patch_deployment(run.target.namespace, run.target.deployment, patch)
    run.status, run.message = ROLLING_BACK, f"{why}; rolling back to revision {revision}"


def _watch(runs: list[TargetRun], deps: RolloutDeps, remaining_s: Callable[[], float]) -> None:
    """Reads every watched Deployment each round until all have finished or the time is up."""
    settings = deps.settings
    while True:
        watched = [r for r in runs if r.status in (STARTED, ROLLING_BACK)]
        if not watched:
            return
        for run in watched:
            current = deps.cluster.get_deployment(run.target.namespace, run.target.deployment)
            if current is None:
                run.status, run.message = FAILED, "deployment deleted during the rollout"
                continue
            status = rollout_status(current)
            if status.phase is RolloutPhase.DONE:
                run.status = SUCCEEDED if run.status == STARTED else ROLLED_BACK
                run.message = status.message if run.status == SUCCEEDED else f"{run.message}: done"
            elif status.phase is RolloutPhase.FAILED:
                if run.status == STARTED:
                    _roll_back(run, current, deps.cluster, status.message)
                else:
                    run.status, run.message = FAILED, f"{run.message}: the rollback failed too ({status.message})"
        if remaining_s() <= settings.rollout_margin_s + settings.rollout_poll_s:
            for run in (r for r in runs if r.status in (STARTED, ROLLING_BACK)):
                what = "rollout" if run.status == STARTED else "rollback"
                run.status, run.message = (
                    PENDING,
                    f"{what} still in progress when the Lambda's time ran out; " + (_finish_hint(run.target)),
                )
            return
        if any(r.status in (STARTED, ROLLING_BACK) for r in runs):
            deps.sleep(settings.rollout_poll_s)


def render_notification(push: ImagePush, runs: list[TargetRun], dry_run: bool) -> dict[str, Any]:
    image = f"{push.repository}:{push.tag or '(untagged)'}"
    lines = []
    for run in runs:
        old = f"{run.old_tag or '?'} `{_short(run.old_image)}`"
        new = f"{push.tag or '(untagged)'} `{push.digest[:19]}`"
        lines.append(
            f"• *{slack.escape_mrkdwn(run.target.name)}*: {run.status.replace('_', ' ')}, {old} → {new}"
            f"\n  {slack.escape_mrkdwn(run.message)}"
        )
    verdict = ", ".join(sorted({r.status.replace("_", " ") for r in runs}))
    text = f"Rollout of {image}{' (dry run)' if dry_run else ''}: {verdict}"
    return {
        "text": slack.escape_mrkdwn(text),
        "blocks": [
            slack.header(f"Rollout: {image}"),
            slack.section("\n".join(lines)),
            slack.context(
                f"`{slack.escape_mrkdwn(push.image)}` · pushed {push.pushed_at.isoformat()}"
                f" · event {slack.escape_mrkdwn(push.event_id)}" + (" · dry run, no cluster" if dry_run else "")
            ),
        ],
    }


def _roll(push: ImagePush, targets: list[RolloutTarget], deps: RolloutDeps, remaining_s) -> dict[str, Any]:
    runs = [_start(push, target, deps.cluster) for target in targets]
    _watch(runs, deps, remaining_s)
    if deps.cluster.dry_run:
        for run in (r for r in runs if r.status == SUCCEEDED):
            run.status, run.message = PLANNED, f"dry run: would move from {_short(run.old_image)}"
    results = [run.as_dict(push) for run in runs]
    for entry in results:
        deps.rollout_journal.record({**entry, "event_id": push.event_id, "at": deps.clock().isoformat()})
    notified = False
    if any(run.status in NOTIFY for run in runs):
        try:
            deps.notifier.post(render_notification(push, runs, deps.cluster.dry_run))
            notified = True
        except Exception as exc:  # the rollout happened: a lost message must not make it run twice
            log.error("rollout of %s done, Slack notification failed: %s", push.image, exc)
    return {"event_id": push.event_id, "image": push.image, "targets": results, "notified": notified}


def handle(push: ImagePush | OtherEcrEvent, deps: RolloutDeps, *, remaining_s: Callable[[], float]) -> Outcome:
    """`remaining_s`: seconds left before the Lambda is stopped (its context's remaining time)."""
    if isinstance(push, OtherEcrEvent):
        return Outcome.ignored(f"{push.detail_type!r} events do not roll anything out")
    image = f"{push.repository}@{push.digest[:19]}"
    if push.action != "PUSH":
        return Outcome.ignored(f"{push.action} of {image}: only pushes roll out")
    if push.result != "SUCCESS":
        return Outcome.ignored(f"push of {image} did not succeed (result {push.result})")
    following = deps.rollout_targets.load().following(push.repository)
    if not following:
        return Outcome.ignored(f"no target follows repository {push.repository!r}")
    decisions = [(target, target.policy.decide(push.tag)) for target in following]
    chosen = [target for target, decision in decisions if decision.matched]
    if not chosen:
        reasons = "; ".join(f"{target.name}: {decision.reason}" for target, decision in decisions)
        return Outcome.ignored(f"{image} matches no target's policy ({reasons})")
    key = f"ecr:{push.repository}@{push.digest}"
    fresh, result = deps.rollout_once(push.idempotency_data, lambda: _roll(push, chosen, deps, remaining_s))
    statuses = [t["status"] for t in result["targets"]]
    summary = ", ".join(f"{t['target']}: {t['status']}" for t in result["targets"])
    if not fresh:
        return Outcome.duplicate(f"{image} already rolled out by event {result['event_id']} ({summary})", key=key)
    return Outcome.applied(f"{push.repository}:{push.tag or '(untagged)'} -> {summary}", key=key, statuses=statuses)
