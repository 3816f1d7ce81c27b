"""Which function of the manifest a saved event goes to, decided as the cloud decides it.

- Cloud Storage events (Eventarc): the functions subscribed to the event type, narrowed by their
  trigger's bucket filter when several are. Where several still take it (the cloud delivers it to each:
  register_model and evaluate_model share the models bucket), the one whose trigger's `object_name` glob
  matches the object (informational: GCS triggers cannot filter on names, the function checks itself),
  else the one without such a glob;
- Pub/Sub messages: the function whose trigger (`pubsub`, or a `schedule` publishing to a topic) names
  the topic the CloudEvent's `source` (or a legacy event's resource, or the push subscription) names;
- Cloud Scheduler's HTTP calls (`X-CloudScheduler-JobName`): the function with an `http` trigger,
  by the job's name when there are several;
- EventBridge events: the Lambda whose rule pattern matches the event's `source` and `detail-type`.

An event no trigger takes gets a RoutingError that names what the event is and what the manifest
subscribes, so the user can see why (or name a function with `--function`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.errors import EventParseError
from tooling.delivery import LEGACY_TO_CLOUDEVENT_TYPE
from tooling.manifest import FunctionSpec, load_manifest

PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
STORAGE_PREFIX = "google.cloud.storage.object.v1."
_TOPIC = re.compile(r"(?:^|/)topics/([^/]+)$")
_SUBSCRIPTION = re.compile(r"(?:^|/)subscriptions/([^/]+)$")


class RoutingError(EventParseError):
    """No function of the manifest takes this event (or several could, and nothing tells them apart): as
    the cloud would not deliver it, `replay` reports it rejected (exit 3), naming why."""


def function_for(path: Path | None, document: Any, specs: list[FunctionSpec] | None = None) -> FunctionSpec:
    """A repository fixture goes to the function whose fixture globs hold it (the fixtures of a trigger
    include events the cloud would not deliver: another bucket's object, an unknown ECR detail type);
    any other event is routed by what it says."""
    specs = specs or load_manifest()
    if path is not None:
        for spec in specs:
            if spec.owns_fixture(path):
                return spec
    return route(document, specs)


def route(document: Any, specs: list[FunctionSpec]) -> FunctionSpec:
    event = _Event.of(document)
    if event.event_type and event.event_type.startswith(STORAGE_PREFIX):
        found = _by_storage(event, specs)
    elif event.event_type == PUBSUB_PUBLISHED:
        found = _by_topic(event, specs)
    elif event.scheduler_job is not None:
        found = _by_job(event, specs)
    elif event.eventbridge_source is not None:
        found = _by_pattern(event, specs)
    else:
        found = []
    if len(found) == 1:
        return found[0]
    what = "could go to " + " or ".join(s.name for s in found) if found else "is taken by no trigger"
    raise RoutingError(
        f"{event.describe()} {what}; the manifest subscribes {_subscriptions(specs)}; name one with --function"
    )


class _Event:
    """What routing reads of an event, whatever form it was saved in."""

    def __init__(self) -> None:
        self.event_type: str | None = None
        self.source: str | None = None
        self.bucket: str | None = None
        self.object_name: str | None = None
        self.subscription: str | None = None
        self.scheduler_job: str | None = None
        self.eventbridge_source: str | None = None
        self.detail_type: str | None = None

    @classmethod
    def of(cls, document: Any) -> _Event:
        event = cls()
        if not isinstance(document, Mapping):
            return event
        data: Any = document.get("data")
        if "specversion" in document:  # structured CloudEvent
            event.event_type, event.source = _text(document.get("type")), _text(document.get("source"))
        elif isinstance(document.get("headers"), Mapping):  # binary CloudEvent, or an HTTP request
            headers = {str(k).lower(): v for k, v in document["headers"].items()}
            event.event_type, event.source = _text(headers.get("ce-type")), _text(headers.get("ce-source"))
            event.scheduler_job = _text(headers.get("x-cloudscheduler-jobname"))
            data = document.get("body")
        elif isinstance(document.get("context"), Mapping) or "eventId" in document:  # legacy background event
            context = document.get("context")
            context = context if isinstance(context, Mapping) else document
            legacy = _text(context.get("eventType"))
            event.event_type = LEGACY_TO_CLOUDEVENT_TYPE.get(legacy, legacy) if legacy else None
            resource = context.get("resource")
            event.source = _text(resource.get("name") if isinstance(resource, Mapping) else resource)
        elif "detail-type" in document:  # EventBridge
            event.eventbridge_source = _text(document.get("source")) or ""
            event.detail_type = _text(document.get("detail-type"))
        if isinstance(data, Mapping):
            event.bucket = _text(data.get("bucket"))
            event.object_name = _text(data.get("name"))
            event.subscription = _text(data.get("subscription"))
        return event

    def topic(self) -> str | None:
        found = _TOPIC.search(self.source or "")
        return found.group(1) if found else None

    def describe(self) -> str:
        if self.event_type == PUBSUB_PUBLISHED:
            return f"a Pub/Sub message from topic {self.topic()!r} (subscription {self.subscription!r})"
        if self.event_type:
            return f"a {self.event_type} event" + (f" on bucket {self.bucket!r}" if self.bucket else "")
        if self.scheduler_job is not None:
            return f"a Cloud Scheduler HTTP call of job {self.scheduler_job!r}"
        if self.eventbridge_source is not None:
            return f"an EventBridge event {self.detail_type!r} from {self.eventbridge_source!r}"
        return "an event of no type we know (no CloudEvent type, scheduler job or EventBridge source)"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _by_storage(event: _Event, specs: list[FunctionSpec]) -> list[FunctionSpec]:
    typed = [s for s in specs if event.event_type in s.event_types]
    if len(typed) > 1 and event.bucket is not None:
        typed = [s for s in typed if _bucket_matches(s, event.bucket)] or typed
    if len(typed) > 1:
        name = event.object_name
        named = [
            s for s in typed if _object_glob(s) and name is not None and fnmatch.fnmatchcase(name, _object_glob(s))
        ]
        typed = named or [s for s in typed if not _object_glob(s)] or typed
    return typed


def _object_glob(spec: FunctionSpec) -> str:
    glob = spec.trigger.get("object_name")
    return glob if isinstance(glob, str) else ""


def _bucket_matches(spec: FunctionSpec, bucket: str) -> bool:
    pattern = spec.trigger.get("filters", {}).get("bucket")
    if not pattern:
        return True
    return re.fullmatch(re.escape(pattern).replace(re.escape("{env}"), "[a-z0-9-]+"), bucket) is not None


def _by_topic(event: _Event, specs: list[FunctionSpec]) -> list[FunctionSpec]:
    with_topic = [s for s in specs if s.trigger.get("topic")]
    topic = event.topic()
    if topic:
        return [s for s in with_topic if s.trigger["topic"] == topic]
    subscription = _SUBSCRIPTION.search(event.subscription or "")
    if subscription:  # Terraform names each push subscription after its function or its topic
        name = subscription.group(1)
        return [s for s in with_topic if name.startswith((s.name.replace("_", "-"), s.name, s.trigger["topic"]))]
    return []


def _by_job(event: _Event, specs: list[FunctionSpec]) -> list[FunctionSpec]:
    http = [s for s in specs if s.trigger.get("kind") == "http"]
    if len(http) <= 1:
        return http
    job = event.scheduler_job or ""
    return [s for s in http if job.startswith(s.name.replace("_", "-"))]


def _by_pattern(event: _Event, specs: list[FunctionSpec]) -> list[FunctionSpec]:
    def matches(spec: FunctionSpec) -> bool:
        pattern = spec.trigger.get("pattern") or {}
        sources, types = pattern.get("source"), pattern.get("detail-type")
        return (not sources or event.eventbridge_source in sources) and (not types or event.detail_type in types)

    return [s for s in specs if s.trigger.get("kind") == "eventbridge" and matches(s)]


def _subscriptions(specs: list[FunctionSpec]) -> str:
    return "; ".join(subscription(spec) for spec in specs)


def subscription(spec: FunctionSpec) -> str:
    """What the function's trigger takes, in words (routing errors, `mlops-events functions`):
    `budget_alert to topic billing-budget-alerts`."""
    trigger = spec.trigger
    if trigger.get("kind") == "eventarc":
        bucket = trigger.get("filters", {}).get("bucket", "any bucket")
        return f"{spec.name} to {', '.join(t.rsplit('.', 1)[-1] for t in spec.event_types)} on {bucket}"
    if trigger.get("topic"):
        return f"{spec.name} to topic {trigger['topic']}"
    if trigger.get("kind") == "http":
        return f"{spec.name} to Cloud Scheduler HTTP calls"
    if trigger.get("kind") == "eventbridge":
        pattern = trigger.get("pattern", {})
        detail_types, sources = "/".join(pattern.get("detail-type", [])), "/".join(pattern.get("source", []))
        return f"{spec.name} to {detail_types} from {sources}"
    return f"{spec.name} ({trigger.get('kind')})"
