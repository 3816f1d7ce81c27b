"""A Cloud Scheduler run delivered through Pub/Sub: the job's payload is the message body.

Cloud Scheduler's Pub/Sub target sends no schedule time of its own, so the job is configured (by
Terraform, from the manifest) with attributes `scheduler_job` and, where known, `schedule_time`;
without them the publish time stands in, which means "run now".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.payloads import _fields
from shared.payloads.pubsub import PubsubMessage


@dataclass(frozen=True)
class ScheduledRun:
    event_id: str
    job: str
    schedule_time: datetime | None
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def run_key(self) -> str:
        return f"{self.job}@{self.schedule_time.isoformat() if self.schedule_time else self.event_id}"


SCHEDULE_TIME_HEADER = "X-CloudScheduler-ScheduleTime"
JOB_NAME_HEADER = "X-CloudScheduler-JobName"


def schedule_time_from_headers(headers: Mapping[str, str]) -> datetime | None:
    """Cloud Scheduler's HTTP target says when the run was scheduled; no header means "run now"."""
    value = {"schedule_time": headers.get(SCHEDULE_TIME_HEADER, "")}
    return _fields.timestamp(value, "schedule_time", SCHEDULE_TIME_HEADER, required=False)


def parse_scheduled_run(message: PubsubMessage, default_job: str) -> ScheduledRun:
    payload = _fields.require_mapping(message.json(), "message.data")
    attributes = message.attributes
    return ScheduledRun(
        event_id=message.event_id,
        job=attributes.get("scheduler_job") or default_job,
        schedule_time=_fields.timestamp(attributes, "schedule_time", "message.attributes.schedule_time", required=False)
        or message.publish_time,
        payload=payload,
    )
