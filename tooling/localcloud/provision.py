"""Creates on the emulators what Terraform creates in the cloud, from the same manifest: buckets,
topics, push subscriptions and dead-letter topics, the BigQuery tables, and on moto the Lambda's
DynamoDB table, SSM targets parameter, secrets, ECR repositories and on-failure queue; seeds the
sample drift data, and on the Kubernetes API test server the Deployments the rollout targets name.

Every step is create-if-missing, so running it twice is harmless."""

from __future__ import annotations

import contextlib
import dataclasses
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tooling.manifest import REPO_ROOT, FunctionSpec

AWS_ACCOUNT = "123456789012"  # moto's default account
AWS_REGION = "us-east-1"
# fake-gcs-server publishes every bucket's notifications to one topic; Eventarc's GCS triggers read it.
GCS_NOTIFICATIONS_TOPIC = "gcs-object-notifications"
SAMPLE_OBJECTS = REPO_ROOT / "events" / "objects"
MAX_ACK_DEADLINE_S = 600


@dataclass
class Plan:
    """What the manifest asks for, for the given environments: names only, no client needed."""

    project: str
    envs: tuple[str, ...]
    buckets: set[str] = field(default_factory=set)
    topics: set[str] = field(default_factory=set)
    # subscription -> (topic, ack deadline s)
    subscriptions: dict[str, tuple[str, int]] = field(default_factory=dict)
    dead_letter_topics: set[str] = field(default_factory=set)
    dead_letter_queues: set[str] = field(default_factory=set)
    schedules: list[tuple[str, FunctionSpec]] = field(default_factory=list)  # (job name, function)


def job_name(spec: FunctionSpec) -> str:
    """The Cloud Scheduler job's name, as Terraform's platform module names it."""
    return spec.trigger.get("attributes", {}).get("scheduler_job") or spec.name.replace("_", "-")


def scheduled_jobs(specs: Iterable[FunctionSpec]) -> list[tuple[str, FunctionSpec]]:
    """(job name, function) of every Cloud Scheduler job the manifest defines: a Pub/Sub or an HTTP one."""
    return [
        (job_name(spec), spec)
        for spec in specs
        if spec.trigger.get("kind") in ("schedule", "http") and spec.trigger.get("schedule")
    ]


def push_subscription(spec: FunctionSpec) -> str:
    return f"{spec.name}-push" if spec.trigger.get("kind") != "eventarc" else f"eventarc-{spec.name}"


def ack_deadline_s(spec: FunctionSpec) -> int:
    """One run of the function, as Terraform's gcp-function module sets it (Pub/Sub allows 10..600 s); a
    push subscription also waits this long for the function's answer."""
    return max(10, min(MAX_ACK_DEADLINE_S, int(spec.timeout_s or 60)))


def _gs_buckets(value: Any) -> Iterable[str]:
    """The buckets a schedule's payload reads (gs:// URIs anywhere in it)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _gs_buckets(item)
    elif isinstance(value, list):
        for item in value:
            yield from _gs_buckets(item)
    elif isinstance(value, str) and value.startswith("gs://"):
        yield value[len("gs://") :].split("/", 1)[0]


def plan(specs: list[FunctionSpec], *, project: str, envs: Iterable[str]) -> Plan:
    result = Plan(project, tuple(envs))
    for spec in specs:
        trigger, retry = spec.trigger, spec.retry
        kind = trigger.get("kind")
        if kind == "eventarc":
            result.topics.add(GCS_NOTIFICATIONS_TOPIC)
            result.subscriptions[push_subscription(spec)] = (GCS_NOTIFICATIONS_TOPIC, ack_deadline_s(spec))
            pattern = trigger.get("filters", {}).get("bucket")
            if pattern:
                result.buckets.update(pattern.replace("{env}", env) for env in result.envs)
        if trigger.get("topic"):
            result.topics.add(trigger["topic"])
            result.subscriptions[push_subscription(spec)] = (trigger["topic"], ack_deadline_s(spec))
        result.schedules += scheduled_jobs([spec])
        result.buckets.update(_gs_buckets(trigger.get("payload")))
        for variable, value in spec.env.items():  # the buckets a function is configured to write
            if variable.endswith(("_BUCKET", "_BUCKET_PATTERN")):
                result.buckets.update(str(value).replace("{env}", env) for env in result.envs)
        dead_letter = retry.get("dead_letter_topic")
        if dead_letter and spec.platform == "aws-lambda":
            result.dead_letter_queues.add(dead_letter)
        elif dead_letter:
            result.dead_letter_topics.add(dead_letter)
    return result


def create_notifications_topic(publisher: Any, project: str) -> None:
    """The topic fake-gcs-server publishes to, which must exist before it starts."""
    with contextlib.suppress(Exception):  # AlreadyExists on a second run against a kept emulator
        publisher.create_topic(name=publisher.topic_path(project, GCS_NOTIFICATIONS_TOPIC))


def provision_gcp(
    plan_: Plan,
    *,
    publisher: Any,
    subscriber: Any,
    settings: Any,
    bigquery_endpoint: str | None,
    storage: bool = True,
) -> None:
    """Everything GCP on the emulators that run (`up --only` starts some: None or False for the others), then the
    sample drift data; storage and BigQuery clients made here."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery
    from google.cloud import storage as gcs  # type: ignore[attr-defined]  # untyped, in a typed namespace

    storage_client = gcs.Client(project=plan_.project, credentials=AnonymousCredentials()) if storage else None
    bigquery_client = (
        bigquery.Client(
            project=plan_.project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=bigquery_endpoint),
        )
        if bigquery_endpoint
        else None
    )
    create_gcp(
        plan_,
        storage=storage_client,
        publisher=publisher,
        subscriber=subscriber,
        bigquery=bigquery_client,
        settings=dataclasses.replace(settings, bigquery_endpoint=bigquery_endpoint),
    )
    if storage_client is not None:
        seed_drift_data(storage_client, plan_.buckets)


def create_gcp(plan_: Plan, *, storage: Any, publisher: Any, subscriber: Any, bigquery: Any, settings: Any) -> None:
    """A client that is None is an emulator that does not run: what it would hold is skipped."""
    from google.api_core.exceptions import AlreadyExists, Conflict

    from shared.adapters.bigquery_drift_runs import BigQueryDriftRunStore
    from shared.adapters.bigquery_registry import BigQueryRegistryTable

    project = plan_.project
    for bucket in sorted(plan_.buckets) if storage is not None else ():
        with contextlib.suppress(Conflict):
            storage.create_bucket(bucket)
    if publisher is not None:
        for topic in sorted(plan_.topics | plan_.dead_letter_topics):
            with contextlib.suppress(AlreadyExists):
                publisher.create_topic(name=publisher.topic_path(project, topic))
        # A dead-letter topic with no subscription would drop what reaches it: a hold keeps it, named as the
        # platform module names it in the cloud (`mlops-events dead-letters` reads both the same way).
        subscriptions = dict(plan_.subscriptions)
        subscriptions.update({f"{topic}-hold": (topic, 60) for topic in plan_.dead_letter_topics})
        for name, (topic, deadline) in sorted(subscriptions.items()):
            with contextlib.suppress(AlreadyExists):
                subscriber.create_subscription(
                    name=subscriber.subscription_path(project, name),
                    topic=publisher.topic_path(project, topic),
                    ack_deadline_seconds=deadline,
                )
    if bigquery is not None:
        BigQueryRegistryTable(bigquery, settings.bigquery_table_id).ensure_table()
        BigQueryDriftRunStore(bigquery, f"{project}.{settings.monitoring_dataset}.drift_runs").ensure_table()


def seed_drift_data(storage: Any, buckets: set[str], *, now: datetime | None = None) -> list[str]:
    """The sample drift data (events/objects/ml-drift-*), its current window moved to end now, so the
    schedule's `window_hours` finds it; models are not seeded: dropping one in is the walkthrough."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    now = now or datetime.now(UTC)
    written = []
    for path in sorted(SAMPLE_OBJECTS.glob("ml-drift-*/**/*.parquet")):
        key = path.relative_to(SAMPLE_OBJECTS).as_posix()
        bucket, name = key.split("/", 1)
        if bucket not in buckets:
            continue
        table = pq.read_table(path)
        if "/current/" in name and "event_time" in table.column_names:
            column = table["event_time"]
            shift = now - pc.max(column).as_py()
            moved = pc.add(column, shift)
            table = table.set_column(table.column_names.index("event_time"), "event_time", moved)
        out = io.BytesIO()
        pq.write_table(table, out)
        blob = storage.bucket(bucket).blob(name)
        blob.upload_from_string(out.getvalue(), content_type="application/vnd.apache.parquet")
        written.append(f"gs://{bucket}/{name}")
    return written


def rollout_targets(path: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(path.read_text())
    return list((document or {}).get("targets", []))


def deploy_rollout_targets(cluster: Any, targets: list[dict[str, Any]]) -> None:
    """One Deployment per rollout target on the test cluster, fully rolled out to a `bootstrap` tag."""
    registry = f"{AWS_ACCOUNT}.dkr.ecr.{AWS_REGION}.amazonaws.com"
    for target in targets:
        with contextlib.suppress(Exception):  # a malformed target is the Lambda's to report, not a reason to stop
            cluster.add_deployment(
                target["namespace"],
                target["deployment"],
                f"{registry}/{target['repository']}:bootstrap",
                container=target.get("container", "app"),
            )


def create_aws(
    plan_: Plan,
    specs: list[FunctionSpec],
    *,
    aws: Any,
    targets_document: str,
    repositories: list[str],
    kubeconfig: str,
    slack_url: str,
) -> None:
    """What the aws-ecr-rollout module creates, on moto. `aws(service)` gives a boto3 client;
    `targets_document` is the rollout targets YAML the SSM parameter holds."""
    for spec in specs:
        if spec.platform != "aws-lambda":
            continue
        env = spec.env
        table = env.get("MLOPS_EVENTS_IDEMPOTENCY_TABLE")
        if table:
            _create_if_missing(
                lambda table=table: aws("dynamodb").create_table(
                    TableName=table,
                    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                ),
                "ResourceInUseException",
            )
        parameter = env.get("MLOPS_EVENTS_ROLLOUT_TARGETS_PARAMETER")
        if parameter:
            aws("ssm").put_parameter(Name=parameter, Value=targets_document, Type="String", Overwrite=True)
        values = {"rollout-kubeconfig": kubeconfig, "slack-webhook": slack_url}
        for secret in spec.secrets:
            value = values.get(secret["name"])
            if value is None:
                continue
            client = aws("secretsmanager")
            try:
                client.create_secret(Name=secret["name"], SecretString=value)
            except client.exceptions.ResourceExistsException:
                client.put_secret_value(SecretId=secret["name"], SecretString=value)
    for repository in repositories:
        _create_if_missing(
            lambda repository=repository: aws("ecr").create_repository(repositoryName=repository),
            "RepositoryAlreadyExistsException",
        )
    for queue in sorted(plan_.dead_letter_queues):
        aws("sqs").create_queue(QueueName=queue)


def _create_if_missing(create: Any, exists_code: str) -> None:
    from botocore.exceptions import ClientError

    try:
        create()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != exists_code:
            raise


def describe(plan_: Plan) -> dict[str, Any]:
    """For `up.json` and the console."""
    return {
        "buckets": sorted(plan_.buckets),
        "topics": sorted(plan_.topics | plan_.dead_letter_topics),
        "subscriptions": sorted(plan_.subscriptions),
        "dead_letter_queues": sorted(plan_.dead_letter_queues),
        "schedules": [{"job": job, "function": spec.name} for job, spec in plan_.schedules],
    }
