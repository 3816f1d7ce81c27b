"""An ECR push rolls the Deployments that follow its repository to the pushed digest, watches them the
way `kubectl rollout status` does, and rolls back the ones that fail.

Once per registry + repository + digest (a second tag on the same digest is the same image): the targets whose
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
from shared.errors import ConflictError, PermanentError, TransientError
from shared.outcome import Outcome
from shared.payloads.ecr import MAX_FUTURE, ImagePush, OtherEcrEvent
from shared.rollout import deployment as k8s
from shared.rollout.status import RolloutPhase, rollout_status

if TYPE_CHECKING:
    from shared.ports import Clock, DeploymentCluster, OnceRunner, RolloutJournal, SlackNotifier, TargetsSource
    from shared.rollout.targets import RolloutTarget

log = logging.getLogger(__name__)
# Outcomes per target: what happened to it, in words a dashboard can group by.
STARTED, SUCCEEDED, ROLLED_BACK, PENDING, FAILED = "started", "succeeded", "rolled_back", "pending", "failed"
PLANNED, NOOP, STALE, MISSING, PAUSED = "planned", "noop", "stale", "missing", "paused"
ROLLING_BACK = "rolling_back"
# Worth a message: something moved, or a target is misconfigured. No-ops and stale events are not.
NOTIFY = frozenset({SUCCEEDED, ROLLED_BACK, PENDING, FAILED, PLANNED, MISSING, PAUSED})


class RolloutSettings(Protocol):
    @property
    def rollout_poll_s(self) -> float: ...  # between two reads of a Deployment's status
    @property
    def rollout_margin_s(self) -> float: ...  # kept back from the Lambda's remaining time to record and notify


class RolloutDeps(Protocol):
    @property
    def settings(self) -> RolloutSettings: ...
    @property
    def rollout_targets(self) -> TargetsSource: ...
    @property
    def cluster(self) -> DeploymentCluster: ...
    @property
    def rollout_journal(self) -> RolloutJournal: ...
    @property
    def notifier(self) -> SlackNotifier: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def sleep(self) -> Callable[[float], None]: ...

    @property
    def rollout_once(self) -> OnceRunner: ...  # read-only: the Lambda binds it to the invocation


@dataclass
class TargetRun:
    """One target through the rollout; `status` moves started -> succeeded | rolling_back -> ..."""

    target: RolloutTarget
    status: str
    message: str
    old_image: str | None = None
    old_tag: str | None = None

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


@dataclass
class DeploymentRun:
    """The targets of one Deployment (containers fed by the same repository): patched in one request,
    watched and rolled back together, as the Deployment rolls out as one."""

    namespace: str
    name: str
    runs: list[TargetRun] = field(default_factory=list)
    transient: str | None = None  # the last read that failed, while watching

    @property
    def active(self) -> list[TargetRun]:
        return [r for r in self.runs if r.status in (STARTED, ROLLING_BACK)]

    def settle(self, status: str, message: str) -> None:
        for run in self.active:
            run.status, run.message = status, message


def _short(image: str | None) -> str:
    """A digest's first 12 hex digits, an image named otherwise as it reads (when it reads as an image
    at all: it came from the cluster), else "unknown". Plain text: escape it where it enters mrkdwn."""
    digest = k8s.digest_of(image)
    if digest:
        return digest[:19]
    return image if image and k8s.is_image(image) else "unknown"


def _finish_hint(namespace: str, name: str) -> str:
    return (
        f"finish with `kubectl -n {namespace} rollout status deployment/{name}`"
        f" (and `kubectl -n {namespace} rollout undo deployment/{name}` if it fails)"
    )


def _decide(push: ImagePush, run: TargetRun, current: dict[str, Any], now: datetime) -> bool:
    """Whether this target's container needs the patch; sets the run's status when it does not. What
    the Deployment says about itself is checked before it is used: a tag or previous image that does
    not read as one is unknown, a recorded push time in the future is not trusted (not stale)."""
    container = run.target.container
    run.old_image = k8s.container_image(current, container)
    run.old_tag = k8s.recorded_tag(current, container)
    if run.old_image is None:
        run.status, run.message = MISSING, f"deployment {run.target.deployment} has no container {container!r}"
        return False
    if k8s.digest_of(run.old_image) == push.digest:
        if rollout_status(current).phase is RolloutPhase.DONE:
            run.status, run.message = NOOP, f"already runs {push.digest[:19]}"
        else:  # patched by an earlier attempt of this rollout, or another event of this digest: watch it
            run.status, run.message = STARTED, "already patched, still rolling out: watching"
            run.old_image = k8s.recorded_previous_image(current, container) or run.old_image
        return False
    running_since = k8s.pushed_at(current, container, not_after=now + MAX_FUTURE)
    if running_since and push.pushed_at < running_since:
        run.status = STALE
        run.message = f"runs a later push ({running_since.isoformat()}); this one is from {push.pushed_at.isoformat()}"
        return False
    return True


def _start(push: ImagePush, group: DeploymentRun, cluster: DeploymentCluster, now: datetime) -> None:
    """Read, decide per container, patch the ones that need it in one conditional request. A 409 (the
    Deployment changed since it was read) means: read and decide again."""
    for attempt in range(3):
        current = cluster.get_deployment(group.namespace, group.name)
        if current is None:
            for run in group.runs:
                run.status, run.message = MISSING, f"deployment {group.namespace}/{group.name} not found"
            return
        if (current.get("spec") or {}).get("paused"):
            for run in group.runs:
                run.status, run.message = PAUSED, "the deployment is paused: not patched (resume it, then push again)"
            return
        to_patch = [run for run in group.runs if _decide(push, run, current, now)]
        if not to_patch:
            return
        notes = {k8s.CHANGE_CAUSE: f"ECR push {push.repository}:{push.tag or '(untagged)'} {push.digest[:19]}"}
        for run in to_patch:
            container = run.target.container
            notes[k8s.note_key(container, k8s.IMAGE_TAG)] = push.tag or ""
            notes[k8s.note_key(container, k8s.PUSHED_AT)] = push.pushed_at.isoformat()
            notes[k8s.note_key(container, k8s.PREVIOUS_IMAGE)] = run.old_image or ""
            notes[k8s.note_key(container, k8s.EVENT_ID)] = push.event_id
        images = {run.target.container: push.image for run in to_patch}
        version = (current.get("metadata") or {}).get("resourceVersion")
        try:
            cluster.patch_deployment(group.namespace, group.name, k8s.image_patch(images, notes, version))
        except ConflictError:
            if attempt == 2:
                raise
            continue
        except PermanentError as exc:  # refused (admission, validation): this Deployment only
            for run in to_patch:
                run.status, run.message = FAILED, f"patch refused: {exc}"
            return
        for run in to_patch:
            run.status, run.message = STARTED, f"patched from {_short(run.old_image)}"
        return


def _roll_back(group: DeploymentRun, current: dict[str, Any], cluster: DeploymentCluster, why: str) -> None:
    selector = ((current.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    try:
        previous = k8s.previous_revision(current, cluster.list_replicasets(group.namespace, selector))
        if previous is None:
            group.settle(FAILED, f"{why}; no previous revision to roll back to")
            return
        notes = {
            k8s.note_key(run.target.container, k8s.ROLLED_BACK_FROM): k8s.container_image(current, run.target.container)
            or ""
            for run in group.active
        }
        cluster.patch_deployment(group.namespace, group.name, k8s.rollback_patch(current, previous, notes))
    except (PermanentError, TransientError) as exc:  # e.g. the template changed meanwhile (422 on the test)
        group.settle(FAILED, f"{why}; not rolled back: {exc}")
        return
    for run in group.active:
        run.status, run.message = ROLLING_BACK, f"{why}; rolling back to revision {k8s.revision_of(previous)}"


def _check(group: DeploymentRun, push: ImagePush, cluster: DeploymentCluster) -> None:
    """One read of a watched Deployment, and what it means for its targets."""
    try:
        current = cluster.get_deployment(group.namespace, group.name)
    except TransientError as exc:  # an API blip: the next round reads again
        group.transient = str(exc)
        return
    group.transient = None
    if current is None:
        group.settle(FAILED, "deployment deleted during the rollout")
        return
    if any(r.status == STARTED for r in group.active):
        images = [k8s.container_image(current, r.target.container) for r in group.active]
        moved = [image for image in images if image != push.image]
        if moved:  # someone (or a later push) changed it: this rollout is not ours to judge any more
            group.settle(FAILED, f"image changed during the rollout (now {_short(moved[0])})")
            return
    status = rollout_status(current)
    if status.phase is RolloutPhase.DONE:
        for run in group.active:
            run.status, run.message = (
                (SUCCEEDED, status.message) if run.status == STARTED else (ROLLED_BACK, f"{run.message}: done")
            )
    elif status.phase is RolloutPhase.FAILED:
        if all(r.status == STARTED for r in group.active):
            _roll_back(group, current, cluster, status.message)
        else:
            group.settle(FAILED, f"the rollback failed too ({status.message})")


def _watch(groups: list[DeploymentRun], push: ImagePush, deps: RolloutDeps, remaining_s: Callable[[], float]) -> None:
    """Reads every watched Deployment each round until all have finished or the time is up."""
    settings = deps.settings
    while any(g.active for g in groups):
        for group in (g for g in groups if g.active):
            _check(group, push, deps.cluster)
        if remaining_s() <= settings.rollout_margin_s + settings.rollout_poll_s:
            for group in (g for g in groups if g.active):
                what = "rollout" if any(r.status == STARTED for r in group.active) else "rollback"
                blip = f" (last read failed: {group.transient})" if group.transient else ""
                group.settle(
                    PENDING,
                    f"{what} still in progress when the Lambda's time ran out{blip}; "
                    + _finish_hint(group.namespace, group.name),
                )
            return
        if any(g.active for g in groups):
            deps.sleep(settings.rollout_poll_s)


def render_notification(push: ImagePush, runs: list[TargetRun], dry_run: bool) -> dict[str, Any]:
    """Every value that came from the event, the configuration or the cluster is escaped where it
    enters mrkdwn (the header is plain_text, which Slack never parses)."""
    esc = slack.escape_mrkdwn
    image = f"{push.repository}:{push.tag or '(untagged)'}"
    lines = []
    for run in runs:
        old = f"{esc(run.old_tag or '?')} `{esc(_short(run.old_image))}`"
        new = f"{esc(push.tag or '(untagged)')} `{esc(push.digest[:19])}`"
        lines.append(f"• *{esc(run.target.name)}*: {run.status.replace('_', ' ')}, {old} → {new}\n  {esc(run.message)}")
    verdict = ", ".join(sorted({r.status.replace("_", " ") for r in runs}))
    text = f"Rollout of {image}{' (dry run)' if dry_run else ''}: {verdict}"
    return {
        "text": esc(text),
        "blocks": [
            slack.header(f"Rollout: {image}"),
            slack.section("\n".join(lines)),
            slack.context(
                f"`{esc(push.image)}` · pushed {push.pushed_at.isoformat()}"
                f" · event {esc(push.event_id)}" + (" · dry run, no cluster" if dry_run else "")
            ),
        ],
    }


def _group(targets: list[RolloutTarget]) -> list[DeploymentRun]:
    groups: dict[tuple[str, str], DeploymentRun] = {}
    for target in targets:
        group = groups.setdefault(
            (target.namespace, target.deployment), DeploymentRun(target.namespace, target.deployment)
        )
        group.runs.append(TargetRun(target, STARTED, ""))
    return list(groups.values())


def _roll(push: ImagePush, targets: list[RolloutTarget], deps: RolloutDeps, remaining_s) -> dict[str, Any]:
    groups = _group(targets)
    now = deps.clock()
    for group in groups:
        _start(push, group, deps.cluster, now)
    _watch(groups, push, deps, remaining_s)
    runs = [run for group in groups for run in group.runs]
    if deps.cluster.dry_run:
        for run in (r for r in runs if r.status == SUCCEEDED):
            run.status, run.message = PLANNED, f"dry run: would move from {_short(run.old_image)}"
    results = [run.as_dict(push) for run in runs]
    try:
        for entry in results:
            deps.rollout_journal.record({**entry, "event_id": push.event_id, "at": deps.clock().isoformat()})
    except OSError as exc:  # the outcome line and the idempotency record still carry every result
        log.error("rollout journal not written: %s", exc)
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
    # The key names the targets too: the same digest re-tagged for another policy (a promotion from
    # staging to production) is a new rollout; re-delivered, or re-tagged for the same targets, it is not.
    names = ",".join(sorted(target.name for target in chosen))
    key = f"ecr:{push.registry}/{push.repository}@{push.digest}>{names}"
    data = {**push.idempotency_data, "targets": names}
    fresh, result = deps.rollout_once(data, lambda: _roll(push, chosen, deps, remaining_s))
    statuses = [t["status"] for t in result["targets"]]
    summary = ", ".join(f"{t['target']}: {t['status']}" for t in result["targets"])
    if not fresh:
        return Outcome.duplicate(f"{image} already rolled out by event {result['event_id']} ({summary})", key=key)
    return Outcome.applied(f"{push.repository}:{push.tag or '(untagged)'} -> {summary}", key=key, statuses=statuses)
