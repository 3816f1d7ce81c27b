"""`mlops-events generate-event ...`: print a real-shaped event of every trigger, ready for `replay`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click


@click.group("generate-event")
def generate_event() -> None:
    """Print a valid event, ready for `replay` (the spirit of `sam local generate-event`)."""


def _mode_option(command):
    return click.option(
        "--mode", type=click.Choice(["structured", "binary", "legacy"]), default="structured", show_default=True
    )(command)


def _storage_event(
    event_type: str,
    bucket: str,
    name: str,
    file: Path | None,
    generation: int | None,
    metadata: tuple[str, ...],
    content_type: str,
    event_id: str | None,
    mode: str,
) -> None:
    from tooling.fixture_factory import render, storage_cloud_event, storage_object_data

    now = datetime.now(UTC)
    pairs = dict(item.split("=", 1) for item in metadata)
    data = storage_object_data(
        bucket,
        name,
        generation=generation or int(now.timestamp() * 1_000_000),
        content=file.read_bytes() if file else None,
        content_type=content_type,
        metadata=pairs,
        time_created=now,
    )
    click.echo(json.dumps(render(storage_cloud_event(event_type, data, event_id=event_id, time=now), mode), indent=2))


def _storage_command(name: str, event_type: str, doc: str):
    @generate_event.command(name, help=doc)
    @click.option("--bucket", help="default: the bucket the manifest's storage trigger filters on, in dev")
    @click.option("--name", "object_name", required=True, help="object name, e.g. my-model/v1/model.safetensors")
    @click.option(
        "--file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="take size, md5Hash and crc32c from this local file",
    )
    @click.option("--generation", type=int, help="object generation (default: now in microseconds)")
    @click.option("--metadata", multiple=True, metavar="KEY=VALUE", help="custom metadata, repeatable")
    @click.option("--content-type", default="application/octet-stream", show_default=True)
    @click.option("--id", "event_id", help="CloudEvent id (default: random)")
    @_mode_option
    def command(bucket, object_name, file, generation, metadata, content_type, event_id, mode):
        bucket = bucket or _manifest_bucket(event_type)
        bad = [m for m in metadata if "=" not in m]
        if bad:
            raise click.BadParameter(f"expected KEY=VALUE, got {bad[0]!r}", param_hint="--metadata")
        _storage_event(event_type, bucket, object_name, file, generation, metadata, content_type, event_id, mode)

    return command


_storage_command("gcs-finalize", "google.cloud.storage.object.v1.finalized", "A Cloud Storage object finalized event.")
_storage_command("gcs-delete", "google.cloud.storage.object.v1.deleted", "A Cloud Storage object deleted event.")
_storage_command(
    "gcs-archive",
    "google.cloud.storage.object.v1.archived",
    "A Cloud Storage object archived event: on a versioned bucket, the live object deleted or overwritten.",
)


def _json_payload(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    if value is None:
        return None  # the manifest's payload for the job, if it has one
    try:
        return json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}") from None


# -- what the manifest knows: a generated event takes it unless an option says otherwise --------------


def _manifest_bucket(event_type: str, env: str = "dev") -> str:
    from tooling.manifest import load_manifest

    for spec in load_manifest():
        pattern = spec.trigger.get("filters", {}).get("bucket")
        if event_type in spec.event_types and pattern:
            return pattern.replace("{env}", env)
    raise click.UsageError("no storage trigger of the manifest names a bucket: pass --bucket")


def _scheduled_trigger(job: str, kind: str) -> dict:
    """The trigger of the manifest's job: by its scheduler_job attribute, its topic, or its function's name
    (drift-report-http is drift_report_http's job); {} when the manifest has no such job."""
    from tooling.manifest import load_manifest

    for spec in load_manifest():
        trigger = spec.trigger
        if trigger.get("kind") != kind:
            continue
        names = {trigger.get("attributes", {}).get("scheduler_job"), trigger.get("topic"), spec.name.replace("_", "-")}
        if job in names:
            return trigger
    return {}


def _http_specs() -> list:
    from tooling.manifest import load_manifest

    return [s for s in load_manifest() if s.trigger.get("kind") == "http"]


def _pubsub_topic(kind: str) -> str | None:
    from tooling.manifest import load_manifest

    return next((s.trigger["topic"] for s in load_manifest() if s.trigger.get("kind") == kind), None)


def _schedule_time(now: datetime, value: datetime | None) -> datetime:
    """Cloud Scheduler fires on the minute; a naive time given on the command line is UTC."""
    return value.replace(tzinfo=value.tzinfo or UTC) if value else now.replace(second=0, microsecond=0)


@generate_event.command("scheduler")
@click.option("--job", required=True, help="the Cloud Scheduler job")
@click.option("--topic", help="the topic the job publishes to (default: the manifest's, else the job's name)")
@click.option("--payload", callback=_json_payload, help="the job's JSON body (default: the manifest's, else {})")
@click.option("--id", "event_id", help="CloudEvent id (default: random)")
@click.option("--mode", type=click.Choice(["structured", "binary"]), default="structured", show_default=True)
def scheduler_event(job: str, topic: str | None, payload: object, event_id: str | None, mode: str) -> None:
    """A Cloud Scheduler run delivered through Pub/Sub (messagePublished)."""
    from tooling.fixture_factory import pubsub_cloud_event, render

    trigger = _scheduled_trigger(job, "schedule")
    topic = topic or trigger.get("topic")
    payload = payload if payload is not None else trigger.get("payload", {})
    now = datetime.now(UTC)
    attributes = {"scheduler_job": job, "schedule_time": _schedule_time(now, None).strftime("%Y-%m-%dT%H:%M:%SZ")}
    event = pubsub_cloud_event(payload, topic=topic or job, attributes=attributes, event_id=event_id, time=now)
    click.echo(json.dumps(render(event, mode), indent=2))


@generate_event.command("scheduler-http")
@click.option("--job", required=True, help="the Cloud Scheduler job (X-CloudScheduler-JobName)")
@click.option("--payload", callback=_json_payload, help="the job's JSON body (default: the manifest's, else {})")
@click.option(
    "--schedule-time",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]),
    help="X-CloudScheduler-ScheduleTime, UTC (default: this minute)",
)
@click.option("--run-now", is_flag=True, help="no schedule time, as a job forced from the console")
def scheduler_http_event(job: str, payload: object, schedule_time: datetime | None, run_now: bool) -> None:
    """A Cloud Scheduler HTTP target's call (the drift_report_http function), as a {"headers", "body"} fixture."""
    from tooling.fixture_factory import scheduler_http_request

    if run_now and schedule_time:
        raise click.UsageError("--run-now and --schedule-time exclude each other")
    if payload is None:
        payload = _scheduled_trigger(job, "http").get("payload") or next(
            (s.trigger.get("payload") for s in _http_specs() if s.trigger.get("payload")), {}
        )
    when = None if run_now else _schedule_time(datetime.now(UTC), schedule_time)
    click.echo(json.dumps(scheduler_http_request(job, payload, schedule_time=when), indent=2))


_MONEY = click.FloatRange(min=0)


@generate_event.command("budget")
@click.option("--budget-id", required=True, help="the budget's id (attribute budgetId)")
@click.option("--amount", type=_MONEY, required=True, help="the budget amount")
@click.option("--cost", type=_MONEY, required=True, help="the cost so far in the interval")
@click.option("--threshold", type=_MONEY, help="the crossed threshold as a fraction (0.5 = 50%); none: a routine one")
@click.option("--forecast", is_flag=True, help="the threshold was crossed by the forecast, not the actual cost")
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 code")
@click.option("--name", "display_name", default="ml-platform", show_default=True, help="budgetDisplayName")
@click.option(
    "--interval-start",
    type=click.DateTime(["%Y-%m-%d"]),
    help="the cost interval's first day (default: this month's, Pacific time as Cloud Billing's intervals are)",
)
@click.option("--billing-account", default="01D4EE-079462-DFD6EC", show_default=True, help="billingAccountId")
@click.option("--topic", help="the budget's Pub/Sub topic (default: the one the manifest's budget_alert subscribes)")
@click.option("--id", "event_id", help="CloudEvent id (default: random)")
@click.option("--mode", type=click.Choice(["structured", "binary"]), default="structured", show_default=True)
def budget_event(
    budget_id: str,
    amount: float,
    cost: float,
    threshold: float | None,
    forecast: bool,
    currency: str,
    display_name: str,
    interval_start: datetime | None,
    billing_account: str,
    topic: str | None,
    event_id: str | None,
    mode: str,
) -> None:
    """A Cloud Billing budget notification delivered through the budget's topic (messagePublished)."""
    from tooling.fixture_factory import billing_interval_start, budget_cloud_event, budget_notification_data, render

    now = datetime.now(UTC)
    topic = topic or _pubsub_topic("pubsub") or "billing-budget-alerts"
    start = billing_interval_start(interval_start.date() if interval_start else now)
    try:
        data = budget_notification_data(
            display_name=display_name,
            amount=amount,
            cost=cost,
            interval_start=start,
            currency=currency.upper(),
            threshold=threshold,
            forecast=forecast,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    event = budget_cloud_event(
        data, budget_id=budget_id, billing_account=billing_account, topic=topic, event_id=event_id, time=now
    )
    click.echo(json.dumps(render(event, mode), indent=2))


@generate_event.command("monitoring")
@click.option("--incident-id", help="the incident's id (default: a random one, as Cloud Monitoring's 0.xxxxxxxxxxxx)")
@click.option("--state", type=click.Choice(["open", "closed", "acknowledged"]), default="open", show_default=True)
@click.option("--policy", default="inference p95 latency > 2 s", show_default=True, help="policy_name")
@click.option("--condition", default="Cloud Run Revision - Request Latencies", show_default=True)
@click.option("--severity", default="p1", show_default=True, help="the policy's `severity` user label")
@click.option("--project", default="mlops-events-dev", show_default=True, help="scoping_project_id")
@click.option("--observed", default="3412.500", show_default=True, help="observed_value")
@click.option("--threshold", default="2000", show_default=True, help="threshold_value")
@click.option("--topic", help="the notification channel's topic (default: the one monitoring_alert subscribes)")
@click.option("--id", "event_id", help="CloudEvent id (default: random)")
@click.option("--mode", type=click.Choice(["structured", "binary"]), default="structured", show_default=True)
def monitoring_event(
    incident_id: str | None,
    state: str,
    policy: str,
    condition: str,
    severity: str,
    project: str,
    observed: str,
    threshold: str,
    topic: str | None,
    event_id: str | None,
    mode: str,
) -> None:
    """A Cloud Monitoring incident notification (schema 1.2) through a Pub/Sub notification channel."""
    import secrets
    import string

    from tooling.fixture_factory import pubsub_cloud_event, render
    from tooling.manifest import load_manifest

    now = datetime.now(UTC)
    incident_id = incident_id or "0." + "".join(
        secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12)
    )
    topic = topic or next(
        (s.trigger["topic"] for s in load_manifest() if s.name == "monitoring_alert"), "monitoring-alerts"
    )
    started = int(now.timestamp()) - (1800 if state == "closed" else 300)
    incident = {
        "incident_id": incident_id,
        "scoping_project_id": project,
        "url": f"https://console.cloud.google.com/monitoring/alerting/incidents/{incident_id}?project={project}",
        "started_at": started,
        "ended_at": int(now.timestamp()) if state == "closed" else None,
        "state": state,
        "policy_name": policy,
        "policy_user_labels": {"severity": severity} if severity else {},
        "condition_name": condition,
        "observed_value": observed,
        "threshold_value": threshold,
        "summary": f"{condition} is above the threshold of {threshold} with a value of {observed}."
        if state != "closed"
        else f"{condition} returned to normal with a value of {observed}.",
    }
    event = pubsub_cloud_event(
        {"incident": incident, "version": "1.2"}, topic=topic, project=project, event_id=event_id, time=now
    )
    click.echo(json.dumps(render(event, mode), indent=2))


@generate_event.command("ecr-push")
@click.option("--repository", required=True, help="the ECR repository name, e.g. ml/inference")
@click.option("--digest", help="the image digest sha256:<64 hex> (default: a random one)")
@click.option("--tag", help="the pushed tag (omit for a push by digest)")
@click.option("--action", type=click.Choice(["PUSH", "DELETE"]), default="PUSH", show_default=True)
@click.option("--result", type=click.Choice(["SUCCESS", "FAILURE"]), default="SUCCESS", show_default=True)
@click.option("--account", default="123456789012", show_default=True)
@click.option("--region", default="us-east-1", show_default=True)
@click.option("--id", "event_id", help="EventBridge event id (default: random)")
def ecr_push_event(repository, digest, tag, action, result, account, region, event_id) -> None:
    """An ECR Image Action event, as EventBridge delivers it to the rollout Lambda."""
    import hashlib
    import re
    import uuid

    from tooling.fixture_factory import ecr_image_action_event

    digest = digest or "sha256:" + hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise click.BadParameter("expected sha256: and 64 lowercase hex digits", param_hint="--digest")
    event = ecr_image_action_event(
        repository, digest, tag=tag, action=action, result=result, account=account, region=region, event_id=event_id
    )
    click.echo(json.dumps(event, indent=2))
