"""`mlops-events up`: the whole platform on one machine, wired as Terraform wires the cloud.

Starts the emulators (Pub/Sub, Firestore, fake-gcs-server publishing object notifications, bqemulator,
moto), creates what the manifest names on them, serves every GCP function under functions-framework on
its own port, the Lambda behind a local Invoke API and the inference service, then bridges the triggers
(dispatch.py, schedules.py, ecr_events.py). Everything it starts is stopped by `stop()`, which also checks
that no process group survived.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.local_server import HOST, free_port, function_command
from shared.localcloud import emulators, provision
from shared.localcloud.control import STATE_FILE, ControlServer, read_state
from shared.localcloud.dispatch import (
    LAMBDA_INVOKE_PATH,
    Attempt,
    Journal,
    PubsubRoute,
    Target,
    deliver_with_retries,
)
from shared.localcloud.ecr_bridge import EcrToLambda
from shared.localcloud.outcomes import OutcomeLog
from shared.localcloud.processes import ServedProcess, group_alive
from shared.localcloud.retry import retry_policy
from shared.localcloud.schedules import Job, Scheduler, pubsub_payload
from shared.localcloud.triggers import Message, Request, push_request, scheduler_http_request, storage_event
from shared.manifest import REPO_ROOT, FunctionSpec, load_manifest

AWS_ACCOUNT = "123456789012"  # moto's default account
AWS_REGION = "us-east-1"
# Variables of the caller's shell that could point a local function at a real cloud or cluster.
_NEVER_INHERITED = ("GOOGLE_APPLICATION_CREDENTIALS", "KUBECONFIG", "AWS_PROFILE", "AWS_SESSION_TOKEN")


@dataclass(frozen=True)
class UpOptions:
    state_dir: Path
    project: str = "mlops-events-local"
    envs: tuple[str, ...] = ("dev",)
    backoff_scale: float = 1.0
    schedules: bool = True  # fire the manifest's crons (trigger JOB works either way)
    inference: bool = True  # serve the inference service when torch is installed
    slack_webhook_url: str | None = None  # default: a local Slack receiver
    rollout_targets: Path = REPO_ROOT / "events" / "ecr" / "targets.yaml"
    seed: bool = True  # the sample drift data


@dataclass
class Served:
    spec: FunctionSpec | None
    process: ServedProcess
    target: Target | None = None


@dataclass
class LocalCloud:
    options: UpOptions
    show: Callable[[Attempt], None]
    specs: list[FunctionSpec] = field(default_factory=load_manifest)
    started: list[Any] = field(default_factory=list)  # emulators and in-process servers, stopped in reverse
    served: dict[str, Served] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state_dir = self.options.state_dir.resolve()
        self.logs = self.state_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.state_dir / "events.jsonl", self.show)
        self.settings = Settings(profile="emulators", state_dir=self.state_dir, gcp_project=self.options.project)
        self.plan = provision.plan(
            self.specs,
            project=self.options.project,
            envs=self.options.envs,
            drift_logs_bucket=self.settings.drift_logs_bucket,
        )
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="delivery")
        self.emulator: dict[str, emulators.Emulator] = {}
        self.scheduler: Scheduler | None = None
        self._slack_seen = 0

    # -- start ---------------------------------------------------------------------------------------
    def start(self, progress: Callable[[str], None] = lambda _: None) -> None:
        progress("starting the emulators")
        self._start_emulators()
        progress("creating buckets, topics, subscriptions, tables and the AWS resources")
        self._provision()
        progress("starting the functions")
        self._start_functions()
        self._start_bridges()
        self._start_control()
        self._write_state()

    def _start_emulators(self) -> None:
        project, logs = self.options.project, self.logs
        starters = {
            "pubsub": lambda: emulators.start_pubsub(project, log_dir=logs),
            "firestore": lambda: emulators.start_firestore(project, log_dir=logs),
            "bigquery": lambda: emulators.start_bqemulator(project, log_dir=logs),
            "moto": lambda: emulators.start_moto(region=AWS_REGION, log_dir=logs),
        }
        with ThreadPoolExecutor(max_workers=len(starters)) as pool:
            futures = {name: pool.submit(start) for name, start in starters.items()}
            failures = []
            for name, future in futures.items():
                try:
                    self.emulator[name] = future.result()
                    self.started.append(self.emulator[name])
                except emulators.EmulatorError as exc:
                    failures.append(f"{name}: {exc}")
        if failures:
            raise emulators.EmulatorError("\n".join(failures))
        # The up process talks to the emulators through the same variables the client libraries read.
        for name in ("pubsub", "firestore", "moto"):
            os.environ.update(self.emulator[name].env)
        from google.cloud import pubsub_v1

        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        topic = self.publisher.topic_path(project, provision.GCS_NOTIFICATIONS_TOPIC)
        with contextlib.suppress(Exception):  # AlreadyExists on a second run against a kept emulator
            self.publisher.create_topic(name=topic)
        gcs = emulators.start_fake_gcs(
            pubsub_host=self.emulator["pubsub"].host,
            pubsub_project=project,
            pubsub_topic=provision.GCS_NOTIFICATIONS_TOPIC,
            log_dir=logs,
        )
        self.emulator["gcs"] = gcs
        self.started.append(gcs)
        os.environ.update(gcs.env)

    def aws(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.emulator["moto"].url, region_name=AWS_REGION)

    def _provision(self) -> None:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery, storage

        from shared.localcloud.k8s_api_server import KubernetesApiServer
        from shared.localcloud.slack_receiver import SlackReceiver

        self.storage = storage.Client(project=self.options.project, credentials=AnonymousCredentials())
        endpoint = self.emulator["bigquery"].url
        self.bigquery = bigquery.Client(
            project=self.options.project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=endpoint),
        )
        settings = Settings(
            profile="emulators", state_dir=self.state_dir, gcp_project=self.options.project, bigquery_endpoint=endpoint
        )
        provision.create_gcp(
            self.plan,
            storage=self.storage,
            publisher=self.publisher,
            subscriber=self.subscriber,
            bigquery=self.bigquery,
            settings=settings,
        )
        if self.options.seed:
            self.seeded = provision.seed_drift_data(self.storage, self.plan.buckets)
        self.slack: SlackReceiver | None = None
        slack_url = self.options.slack_webhook_url
        if not slack_url:
            self.slack = SlackReceiver()
            self.started.append(_Closing(self.slack.close))
            slack_url = self.slack.url
        self.slack_url = slack_url
        # The cluster the rollout Lambda drives: the Kubernetes API test server, one Deployment per target.
        self.cluster = KubernetesApiServer(token=secrets.token_hex(16))
        self.started.append(self.cluster)
        registry = f"{AWS_ACCOUNT}.dkr.ecr.{AWS_REGION}.amazonaws.com"
        for target in provision.rollout_targets(self.options.rollout_targets):
            with contextlib.suppress(Exception):  # two targets may name one Deployment
                self.cluster.add_deployment(
                    target["namespace"],
                    target["deployment"],
                    f"{registry}/{target['repository']}:bootstrap",
                    container=target.get("container", "app"),
                )
        kubeconfig = Path(self.cluster.kubeconfig(self.state_dir / "kubeconfig")).read_text()
        provision.create_aws(
            self.plan,
            self.specs,
            aws=self.aws,
            targets_path=self.options.rollout_targets,
            kubeconfig=kubeconfig,
            slack_url=slack_url,
        )

    def function_env(self, spec: FunctionSpec | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_EVENTS_") and k not in _NEVER_INHERITED}
        env.update(spec.env if spec else {})
        for name in ("pubsub", "firestore", "gcs", "bigquery"):
            env.update(self.emulator[name].env)
        env.update(
            {
                "MLOPS_EVENTS_PROFILE": "emulators",
                "MLOPS_EVENTS_STATE_DIR": str(self.state_dir),
                "MLOPS_EVENTS_GCP_PROJECT": self.options.project,
                "GOOGLE_CLOUD_PROJECT": self.options.project,
                "PYTHONUNBUFFERED": "1",  # outcome lines reach the log file before the answer does
                "MLOPS_EVENTS_ROLLOUT_POLL_S": "0.5",
            }
        )
        if spec is not None and spec.platform == "aws-lambda":
            env.update(self.emulator["moto"].env)
            for secret in spec.secrets:  # the Lambda reads its kubeconfig and webhook from Secrets Manager (moto)
                env[secret["env"]] = secret["name"]
        else:
            env["MLOPS_EVENTS_SLACK_WEBHOOK_URL"] = self.slack_url  # Secret Manager has no emulator
            for secret in spec.secrets if spec else []:
                env.pop(secret["env"], None)
        return env

    def _start_functions(self) -> None:
        for spec in self.specs:
            port = free_port()
            if spec.platform == "aws-lambda":
                argv = [sys.executable, "-m", "shared.localcloud.lambda_endpoint", "--function", spec.name]
                argv += ["--host", HOST, "--port", str(port)]
            else:
                argv = function_command(spec.source_path, spec.entry_point, port=port, signature=spec.signature)
            process = ServedProcess(
                spec.name,
                argv,
                self.function_env(spec),
                port,
                self.logs / f"{spec.name}.log",
                cwd=REPO_ROOT,
                on_restart=self._restarted,
            )
            self.served[spec.name] = Served(spec, process)
        if self.options.inference and importlib.util.find_spec("torch") is not None:
            port = free_port()
            argv = [sys.executable, "-m", "uvicorn", "mlops_inference.main:create", "--factory"]
            argv += ["--host", HOST, "--port", str(port), "--no-access-log"]
            env = self.function_env(None)
            env.update({"MODEL_NAME": "fraud-detector", "ENV": self.options.envs[0], "INFERENCE_RELOAD_S": "5"})
            env["MLOPS_EVENTS_BIGQUERY_ENDPOINT"] = self.emulator["bigquery"].url
            process = ServedProcess("inference", argv, env, port, self.logs / "inference.log", cwd=REPO_ROOT)
            self.served["inference"] = Served(None, process)
        for served in self.served.values():
            served.process.start()
        for served in self.served.values():
            served.process.wait_listening()
            spec = served.spec
            if spec is not None:
                url = served.process.url
                if spec.platform == "aws-lambda":
                    url += LAMBDA_INVOKE_PATH.format(name=spec.name)
                log = OutcomeLog(served.process.log_path)
                timeout = float(spec.timeout_s or 60) + 30
                served.target = Target(spec.name, url, log, platform=spec.platform, timeout_s=timeout)

    def _restarted(self, process: ServedProcess, code: int) -> None:
        self.journal.record(
            Attempt(
                source="up",
                function=process.name,
                subject=f"pid {process.pid}",
                outcome="restarted",
                detail=f"the process exited ({code}); started again, as a new instance would be",
            )
        )

    # -- triggers ------------------------------------------------------------------------------------
    def _start_bridges(self) -> None:
        from shared.localcloud.cron import CronSchedule

        project = self.options.project
        for spec in self.specs:
            target = self.served[spec.name].target
            if target is None or spec.platform != "gcp-function":
                continue
            kind = spec.trigger.get("kind")
            policy = retry_policy(spec.retry, scale=self.options.backoff_scale)
            subscription = provision.push_subscription(spec)
            if kind == "eventarc":
                route = PubsubRoute(
                    subscriber=self.subscriber,
                    subscription=self.subscriber.subscription_path(project, subscription),
                    target=target,
                    policy=policy,
                    source="gcs",
                    convert=self._storage_converter(spec),
                    journal=self.journal,
                    dead_letter=None,
                    drop_note=f"{spec.retry.get('reconciled_by', '')} picks it up on its next run".strip(),
                )
            elif spec.trigger.get("topic"):
                topic = spec.trigger["topic"]

                def convert(message: Message, topic=topic, subscription=subscription) -> Request:
                    return push_request(message, project=project, topic=topic, subscription=subscription)

                route = PubsubRoute(
                    subscriber=self.subscriber,
                    subscription=self.subscriber.subscription_path(project, subscription),
                    target=target,
                    policy=policy,
                    source="scheduler" if kind == "schedule" else "pubsub",
                    convert=convert,
                    journal=self.journal,
                    dead_letter=self._dead_letter_to(spec, subscription),
                )
            else:
                continue
            self._thread(f"pull-{spec.name}", route.poll, self.executor, self.stopping)
        jobs = [
            Job(name, spec, CronSchedule.parse(spec.trigger["schedule"], spec.trigger.get("time_zone", "Etc/UTC")))
            for name, spec in self.plan.schedules
        ]
        self.scheduler = Scheduler(jobs, self._fire)
        if self.options.schedules:
            self._thread("scheduler", self.scheduler.run, self.stopping)
        lambdas = [s for s in self.specs if s.platform == "aws-lambda" and s.trigger.get("kind") == "eventbridge"]
        if lambdas:
            targets = {spec.name: self.served[spec.name].target for spec in lambdas}
            bridge = EcrToLambda(
                lambdas,
                targets,  # type: ignore[arg-type]
                aws=self.aws,
                repositories=sorted({t["repository"] for t in provision.rollout_targets(self.options.rollout_targets)}),
                journal=self.journal,
                executor=self.executor,
                backoff_scale=self.options.backoff_scale,
                account=AWS_ACCOUNT,
                region=AWS_REGION,
            )
            self._thread("ecr-events", bridge.watch, self.stopping)
        self._thread("supervisor", self._supervise)

    def _thread(self, name: str, run: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=run, args=args, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _storage_converter(self, spec: FunctionSpec) -> Callable[[Message], Request | None]:
        pattern = spec.trigger.get("filters", {}).get("bucket", "")
        buckets = {pattern.replace("{env}", env) for env in self.options.envs} if pattern else None
        types = set(spec.event_types)

        def convert(message: Message) -> Request | None:
            converted = storage_event(message)
            if converted is None:
                return None
            bucket, event_type, request = converted
            if (buckets is not None and bucket not in buckets) or event_type not in types:
                return None
            return request

        return convert

    def _dead_letter_to(self, spec: FunctionSpec, subscription: str) -> Callable[[Message, int], str] | None:
        topic = spec.retry.get("dead_letter_topic")
        if not topic:
            return None
        project = self.options.project

        def forward(message: Message, deliveries: int) -> str:
            """What Pub/Sub's dead-lettering publishes: the message, plus where it came from."""
            attributes = {
                **message.attributes,
                "CloudPubSubDeadLetterSourceDeliveryCount": str(deliveries),
                "CloudPubSubDeadLetterSourceSubscription": subscription,
                "CloudPubSubDeadLetterSourceSubscriptionProject": project,
                "CloudPubSubDeadLetterSourceTopicPublishTime": message.publish_time.isoformat(),
            }
            self.publisher.publish(self.publisher.topic_path(project, topic), message.data, **attributes).result(30)
            return f"topic {topic} (pull it from {topic}-inspect)"

        return forward

    def _fire(self, job: Job, when: datetime) -> None:
        """One run of a Cloud Scheduler job: publish to its topic, or call the function over HTTP."""
        spec = job.spec
        if job.kind == "http":
            target = self.served[spec.name].target
            assert target is not None
            request = scheduler_http_request(job.name, spec.trigger.get("payload"), when)
            policy = retry_policy(spec.retry, scale=self.options.backoff_scale)
            self.journal.record(
                Attempt(
                    source="scheduler",
                    function=spec.name,
                    subject=f"job {job.name}",
                    outcome="fired",
                    detail="HTTP target",
                )
            )
            self.executor.submit(
                deliver_with_retries,
                target,
                request,
                policy=policy,
                source="scheduler",
                journal=self.journal,
                stopping=self.stopping,
            )
            return
        data, attributes = pubsub_payload(spec)
        topic = spec.trigger["topic"]
        message_id = self.publisher.publish(
            self.publisher.topic_path(self.options.project, topic), data, **attributes
        ).result(30)
        self.journal.record(
            Attempt(
                source="scheduler",
                function=spec.name,
                subject=f"job {job.name}",
                outcome="fired",
                detail=f"published message {message_id} to {topic}",
            )
        )

    def _supervise(self) -> None:
        """Bring back dead functions; show what reached the local Slack."""
        slack_log = self.state_dir / "slack-posts.jsonl"
        while not self.stopping.wait(0.25):
            for served in self.served.values():
                served.process.check()
            if self.slack is None:
                continue
            posts = self.slack.posts
            for post in posts[self._slack_seen :]:
                with slack_log.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(post) + "\n")
                text = post.get("text") or ""
                self.journal.record(Attempt(source="slack", function="-", subject=text[:120], outcome="posted"))
            self._slack_seen = len(posts)

    # -- control: `mlops-events trigger JOB` -----------------------------------------------------------
    def _start_control(self) -> None:
        self.control = ControlServer(self.run_job, self.state)
        self._thread("control", self.control.serve_forever)
        self.started.append(self.control)

    def run_job(self, name: str) -> None:
        """Fire a schedule now; KeyError (listing the jobs) for an unknown one."""
        if self.scheduler is None or name not in self.scheduler.jobs:
            raise KeyError(sorted(self.scheduler.jobs) if self.scheduler else [])
        self.scheduler.run_now(name)

    # -- state ---------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "project": self.options.project,
            "envs": list(self.options.envs),
            "control_url": self.control.url,
            "state_dir": str(self.state_dir),
            "emulators": {
                name: {"url": e.url, "pid": e.process.pid, "env": e.env, "log": str(e.log_path)}
                for name, e in self.emulator.items()
            },
            "functions": {
                name: {
                    "url": served.target.url if served.target else served.process.url,
                    "pid": served.process.pid,
                    "log": str(served.process.log_path),
                    "restarts": served.process.restarts,
                }
                for name, served in self.served.items()
            },
            "slack_webhook_url": self.slack_url if self.slack else "(your webhook)",
            "kubernetes_api": self.cluster.url,
            "resources": provision.describe(self.plan),
            "schedules": self.scheduler.next_fire_times() if self.scheduler and self.options.schedules else {},
        }

    def _write_state(self) -> None:
        state = self.state()
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
        exports = {}
        for emulator in self.emulator.values():
            exports.update(emulator.env)
        exports.update({"GOOGLE_CLOUD_PROJECT": self.options.project, "MLOPS_EVENTS_PROFILE": "emulators"})
        lines = [f"export {k}={v}" for k, v in sorted(exports.items())]
        (self.state_dir / "up.env").write_text("\n".join(lines) + "\n")

    # -- stop ----------------------------------------------------------------------------------------
    def process_groups(self) -> dict[str, int]:
        groups = {name: e.process.pid for name, e in self.emulator.items()}
        groups.update({name: s.process.pid for name, s in self.served.items() if s.process.pid})
        return groups

    def stop(self) -> dict[str, int]:
        """Stop everything; returns the process groups still alive afterwards (none, or a bug)."""
        self.stopping.set()
        groups = self.process_groups()
        for served in self.served.values():
            served.process.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for thing in reversed(self.started):
            with contextlib.suppress(Exception):
                thing.stop()
        written = read_state(self.state_dir)
        if written and written.get("pid") == os.getpid():  # never another `up`'s file
            (self.state_dir / STATE_FILE).unlink(missing_ok=True)
        return {name: pgid for name, pgid in groups.items() if group_alive(pgid)}


@dataclass
class _Closing:
    close: Callable[[], None]

    def stop(self) -> None:
        self.close()
