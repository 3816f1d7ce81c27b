"""Cloud Scheduler on the local cloud: each manifest schedule fires on its cron, and on demand
(`mlops-events trigger JOB`, Cloud Scheduler's "force run"). A Pub/Sub job publishes its payload and
attributes to its topic (the function's push subscription delivers it); an HTTP job POSTs to the
function with the X-CloudScheduler headers, retried as the job's retry config says."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tooling.localcloud.cron import CronSchedule
from tooling.manifest import FunctionSpec

LATE_GRACE = timedelta(minutes=1)


@dataclass(frozen=True)
class Job:
    name: str
    spec: FunctionSpec
    cron: CronSchedule

    @property
    def kind(self) -> str:
        return str(self.spec.trigger.get("kind"))


class Scheduler:
    def __init__(
        self,
        jobs: list[Job],
        fire: Callable[[Job, datetime | None], None],
        *,
        on_error: Callable[[Job, Exception], None] = lambda job, exc: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`fire(job, schedule_time)`: one run; schedule_time None is a forced run."""
        self.jobs = {job.name: job for job in jobs}
        self._fire, self._on_error, self._clock = fire, on_error, clock

    def run(self, stopping: threading.Event) -> None:
        """Sleep until the next fire time of any job, fire it, repeat; a stop wakes it at once. A failed
        run is reported and the schedule goes on. Runs missed while the machine slept are not caught up
        (Cloud Scheduler does not either): the next one is the first after now."""
        if not self.jobs:
            return
        due = {name: job.cron.next_after(self._clock()) for name, job in self.jobs.items()}
        while not stopping.is_set():
            name = min(due, key=due.__getitem__)
            wait_s = (due[name] - self._clock()).total_seconds()
            if wait_s > 0 and stopping.wait(min(wait_s, 60.0)):
                return
            now = self._clock()
            if now < due[name]:
                continue  # woke early (the wait is capped so a changed clock is noticed): wait again
            job = self.jobs[name]
            if now - due[name] <= LATE_GRACE:  # a run long overdue (the machine slept) is skipped
                try:
                    self._fire(job, due[name])
                except Exception as exc:
                    self._on_error(job, exc)
            due[name] = job.cron.next_after(max(due[name], self._clock()))

    def run_now(self, name: str) -> Job:
        """Force a run, as `gcloud scheduler jobs run` does; KeyError for an unknown job."""
        job = self.jobs[name]
        self._fire(job, None)
        return job

    def next_fire_times(self) -> dict[str, str]:
        now = self._clock()
        return {name: job.cron.next_after(now).isoformat() for name, job in self.jobs.items()}


def pubsub_payload(spec: FunctionSpec) -> tuple[bytes, dict[str, str]]:
    """What a Pub/Sub job publishes: the payload as JSON, the manifest's attributes (Terraform's, exactly)."""
    trigger = spec.trigger
    attributes = {str(k): str(v) for k, v in (trigger.get("attributes") or {}).items()}
    return json.dumps(trigger.get("payload") or {}).encode(), attributes
