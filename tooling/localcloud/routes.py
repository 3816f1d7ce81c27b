"""The trigger wiring of the local cloud, one route per manifest trigger, as Terraform wires the cloud:

- `eventarc` (GCS): the notification topic's subscription, filtered on the trigger's bucket and event
  types, converted to the Eventarc CloudEvent; no dead letter (Eventarc's GCS triggers have none);
- `pubsub` and `schedule`: the function's own push subscription `<function>-push`, with the manifest's
  backoff and dead-letter topic;
- `http` schedules: Cloud Scheduler's HTTP call, retried as the job's retry config says.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from tooling.dead_letters.console import dead_lettered
from tooling.localcloud import provision
from tooling.localcloud.activity_log import ActivityLog, Attempt
from tooling.localcloud.dispatch import PubsubRoute, Target, deliver_with_retries
from tooling.localcloud.retry import retry_policy
from tooling.localcloud.schedules import Job, pubsub_payload
from tooling.localcloud.triggers import Message, Request, push_request, scheduler_http_request, storage_event
from tooling.manifest import FunctionSpec


def storage_filter(spec: FunctionSpec, envs: tuple[str, ...]) -> Callable[[Message, int], Request | None]:
    """The Eventarc trigger's filters: its bucket (one per env) and its event types."""
    pattern = spec.trigger.get("filters", {}).get("bucket", "")
    buckets = {pattern.replace("{env}", env) for env in envs} if pattern else None
    types = set(spec.event_types)

    def convert(message: Message, attempt: int) -> Request | None:
        converted = storage_event(message)
        if converted is None:
            return None
        bucket, event_type, request = converted
        if (buckets is not None and bucket not in buckets) or event_type not in types:
            return None
        return request

    return convert


def push_converter(spec: FunctionSpec, project: str) -> Callable[[Message, int], Request]:
    topic, subscription = spec.trigger["topic"], provision.push_subscription(spec)
    has_dead_letter = bool(spec.retry.get("dead_letter_topic"))

    def convert(message: Message, attempt: int) -> Request:
        return push_request(
            message,
            project=project,
            topic=topic,
            subscription=subscription,
            delivery_attempt=attempt if has_dead_letter else None,
        )

    return convert


def pubsub_dead_letter(publisher: Any, project: str, topic: str, subscription: str) -> Callable[[Message, int], str]:
    """Forwards a message as Pub/Sub's dead-lettering does: the message, plus where it came from."""

    def forward(message: Message, deliveries: int) -> str:
        attributes = {
            **message.attributes,
            "CloudPubSubDeadLetterSourceDeliveryCount": str(deliveries),
            "CloudPubSubDeadLetterSourceSubscription": subscription,
            "CloudPubSubDeadLetterSourceSubscriptionProject": project,
            "CloudPubSubDeadLetterSourceTopicPublishTime": message.publish_time.isoformat(),
        }
        message_id = publisher.publish(publisher.topic_path(project, topic), message.data, **attributes).result(30)
        return dead_lettered(topic, f"{topic}-hold", message_id)

    return forward


def pubsub_route(
    spec: FunctionSpec,
    target: Target,
    *,
    subscriber: Any,
    publisher: Any,
    project: str,
    envs: tuple[str, ...],
    activity: ActivityLog,
    backoff_scale: float,
) -> PubsubRoute | None:
    """The route feeding `spec` from Pub/Sub, or None for a function no topic triggers."""
    kind = spec.trigger.get("kind")
    subscription = provision.push_subscription(spec)
    common = dict(
        subscriber=subscriber,
        subscription=subscriber.subscription_path(project, subscription),
        target=target,
        policy=retry_policy(spec.retry, scale=backoff_scale),
        activity=activity,
    )
    if kind == "eventarc":
        note = f"{spec.retry.get('reconciled_by', '')} picks it up on its next run".strip()
        return PubsubRoute(source="gcs", convert=storage_filter(spec, envs), dead_letter=None, drop_note=note, **common)
    if spec.trigger.get("topic"):
        topic = spec.retry.get("dead_letter_topic")
        dead_letter = pubsub_dead_letter(publisher, project, topic, subscription) if topic else None
        source = "scheduler" if kind == "schedule" else "pubsub"
        return PubsubRoute(source=source, convert=push_converter(spec, project), dead_letter=dead_letter, **common)
    return None


class JobRunner:
    """Fires Cloud Scheduler jobs: a Pub/Sub job publishes to its topic (its push subscription delivers
    it); an HTTP job calls its function, with the job's retries, in a worker of `executor`."""

    def __init__(
        self,
        *,
        publisher: Any,
        project: str,
        targets: dict[str, Target],
        activity: ActivityLog,
        executor: Executor,
        stopping: threading.Event,
        backoff_scale: float,
    ) -> None:
        self._publisher, self._project, self._targets = publisher, project, targets
        self._activity, self._executor, self._stopping, self._scale = activity, executor, stopping, backoff_scale

    def fire(self, job: Job, schedule_time: datetime | None) -> None:
        """One run; `schedule_time` None is a forced run (`mlops-events trigger JOB`)."""
        spec = job.spec
        if job.kind == "http":
            request = scheduler_http_request(job.name, spec.trigger.get("payload"), schedule_time)
            self._activity.record(Attempt("scheduler", spec.name, f"job {job.name}", "fired", "HTTP target"))
            self._executor.submit(
                self._activity.guarded("scheduler", spec.name, f"job {job.name}", deliver_with_retries),
                self._targets[spec.name],
                request,
                policy=retry_policy(spec.retry, scale=self._scale),
                source="scheduler",
                activity=self._activity,
                stopping=self._stopping,
            )
            return
        data, attributes = pubsub_payload(spec)
        topic = spec.trigger["topic"]
        message_id = self._publisher.publish(
            self._publisher.topic_path(self._project, topic), data, **attributes
        ).result(30)
        detail = f"published message {message_id} to {topic}"
        self._activity.record(Attempt("scheduler", spec.name, f"job {job.name}", "fired", detail))


def request_timeout_s(spec: FunctionSpec) -> float:
    """How long the trigger waits for the function's answer, as the platform does."""
    timeout = float(spec.timeout_s or 60)
    kind = spec.trigger.get("kind")
    if kind in ("pubsub", "schedule"):
        return float(provision.ack_deadline_s(spec))  # a push request times out with its ack deadline
    if kind == "http":
        return min(1800.0, max(15.0, timeout))  # the Cloud Scheduler job's attempt deadline
    if spec.platform == "aws-lambda":
        return timeout + 5  # the Lambda's own timeout, then the invoke call's answer
    return timeout  # Eventarc waits for the Cloud Run request, bounded by the function's timeout
