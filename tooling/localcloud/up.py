"""`mlops-events up`: the whole platform on one machine, wired as Terraform wires the cloud.

The supervisor: starts the emulators (Pub/Sub, Firestore, fake-gcs-server publishing object notifications,
bqemulator, moto), has provision.py create what the manifest names on them, serves every GCP function under
functions-framework on its own port, the Lambda behind a local Invoke API and the inference service, each
with the environment function_env.py builds, then bridges the triggers (routes.py, dispatch.py, schedules.py,
ecr_bridge.py). It restarts a function that dies, keeps up.json current (control.py), and `stop()` stops
everything it started, checking that no process group survived.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.config import Settings
from tooling.local_server import HOST, free_port, function_command
from tooling.localcloud import emulators, needs, provision
from tooling.localcloud.activity_log import ActivityLog, Attempt
from tooling.localcloud.control import ControlServer, UnknownJob, read_state, remove_state, write_state
from tooling.localcloud.cron import CronSchedule
from tooling.localcloud.dispatch import PubsubRoute, Target
from tooling.localcloud.ecr_bridge import EcrToLambda
from tooling.localcloud.function_env import FunctionEnvironment
from tooling.localcloud.lambda_endpoint import invoke_path
from tooling.localcloud.outcome_log import OutcomeLog
from tooling.localcloud.persistence import FIRESTORE_EXPORT_NAME, Persistence
from tooling.localcloud.processes import ServedProcess, group_alive
from tooling.localcloud.provision import AWS_ACCOUNT, AWS_REGION
from tooling.localcloud.reachability import LOCAL_CLOUD_DIR_VARIABLE
from tooling.localcloud.routes import JobRunner, pubsub_route, request_timeout_s
from tooling.localcloud.schedules import Job, Scheduler
from tooling.localcloud.user_cluster import user_kubeconfig
from tooling.manifest import REPO_ROOT, FunctionSpec, load_manifest


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
    only: tuple[str, ...] = ()  # these functions (and "inference") and the emulators they need; () = everything
    import_dir: Path | None = None  # start from what an --export-on-exit wrote there (persistence.py)
    export_dir: Path | None = None  # write the emulators' data there on a clean stop
    kubeconfig: Path | None = None  # roll out to this cluster instead of the Kubernetes API test server
    kube_context: str | None = None  # that kubeconfig's context (default: its current-context)
    inference_alias: str | None = None  # the service serves this alias's version (MODEL_ALIAS); None: the latest
    inference_capture: str | None = None  # parquet, bigquery or both (INFERENCE_CAPTURE_SINK); None: the default


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
        self.activity = ActivityLog(self.state_dir / "events.jsonl", self.show)
        self.persistence = Persistence(self.state_dir / "data", self.options.import_dir, self.options.export_dir)
        self.ready = False  # only a local cloud that came up is exported: a failed start must not replace DIR
        self.exported: dict[str, Any] | None = None
        self.export_error: str | None = None
        self.serve_inference = self.options.inference
        self.inference: dict[str, Any] | None = None  # what the inference service serves and captures to, once started
        if self.options.only:  # an unknown name fails here, before anything starts
            self.specs, self.serve_inference = needs.select(self.specs, self.options.only)
        wanted = needs.emulators_for(self.specs, self.serve_inference) if self.options.only else needs.EMULATORS
        self.needs = set(wanted)
        self.settings = Settings(profile="emulators", state_dir=self.state_dir, gcp_project=self.options.project)
        self.plan = provision.plan(
            self.specs,
            project=self.options.project,
            envs=self.options.envs,
        )
        self.targets = provision.rollout_targets(self.options.rollout_targets)
        # (document, context, server) of the user's cluster; a missing file or context fails here, before anything
        self.user_cluster = (
            user_kubeconfig(self.options.kubeconfig, self.options.kube_context) if self.options.kubeconfig else None
        )
        self.repositories = sorted({target["repository"] for target in self.targets})
        # A bad cron fails here, before anything starts.
        self.jobs = [
            Job(name, spec, CronSchedule.parse(spec.trigger["schedule"], spec.trigger.get("time_zone", "Etc/UTC")))
            for name, spec in self.plan.schedules
        ]
        # Direct invocations (HTTP jobs, the Lambda) wait out their backoff in these workers.
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="invoke")
        self.emulator: dict[str, emulators.Emulator] = {}
        self.routes: list[PubsubRoute] = []
        self.scheduler: Scheduler | None = None
        self._slack_seen = 0
        self.lambda_runtime: str | None = None  # how the Lambda runs (said at start)
        self._state_lock = threading.Lock()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")

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
        self._thread("supervisor", self._supervise)  # last: a restart rewrites the state written above
        self.ready = True

    def _start_emulators(self) -> None:
        project, logs, kept = self.options.project, self.logs, self.persistence
        kept.prepare()
        starters = {
            "pubsub": lambda: emulators.start_pubsub(project, log_dir=logs),
            "firestore": lambda: emulators.start_firestore(project, log_dir=logs, import_data=kept.firestore_import()),
            "bigquery": lambda: emulators.start_bqemulator(project, log_dir=logs, data_dir=kept.bigquery_dir()),
            "moto": lambda: emulators.start_moto(region=AWS_REGION, log_dir=logs, recording=kept.moto_recording()),
        }
        starters = {name: start for name, start in starters.items() if name in self.needs}

        def keep(name: str, emulator: emulators.Emulator) -> None:
            """For stop() as soon as it is up, even if a Ctrl-C interrupts the wait for the others."""
            self.emulator[name] = emulator
            self.started.append(emulator)

        if starters:
            emulators.start_together(starters, keep)
        if "moto" in self.emulator and kept.moto_has_recording():
            emulators.replay_moto(self.emulator["moto"])  # the imported AWS state, before anything reads it
        # The up process talks to the emulators through the same variables the client libraries read.
        for name in ("pubsub", "firestore", "moto"):
            if name in self.emulator:
                os.environ.update(self.emulator[name].env)
        self.publisher: Any = None
        self.subscriber: Any = None
        if "pubsub" in self.emulator:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # untyped, in a typed namespace

            self.publisher = pubsub_v1.PublisherClient()
            self.subscriber = pubsub_v1.SubscriberClient()
            provision.create_notifications_topic(self.publisher, project)
        if "gcs" not in self.needs:
            return
        notify = "pubsub" in self.emulator  # object notifications only where a trigger reads them
        gcs = emulators.start_fake_gcs(
            pubsub_host=self.emulator["pubsub"].host if notify else None,
            pubsub_project=project if notify else None,
            pubsub_topic=provision.GCS_NOTIFICATIONS_TOPIC if notify else None,
            log_dir=logs,
            filesystem_root=kept.gcs_root(),
        )
        self.emulator["gcs"] = gcs
        self.started.append(gcs)
        os.environ.update(gcs.env)

    def aws(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.emulator["moto"].url, region_name=AWS_REGION)

    def _provision(self) -> None:
        """What Terraform would have created, and the two local stand-ins the functions are wired to."""
        from tooling.localcloud.k8s_api_server import KubernetesApiServer
        from tooling.localcloud.slack_receiver import SlackReceiver

        provision.provision_gcp(
            self.plan,
            publisher=self.publisher,
            subscriber=self.subscriber,
            settings=self.settings,
            bigquery_endpoint=self.emulator["bigquery"].url if "bigquery" in self.emulator else None,
            storage="gcs" in self.emulator,
        )
        self.slack: SlackReceiver | None = None
        slack_url = self.options.slack_webhook_url
        if not slack_url:
            self.slack = SlackReceiver()
            self.started.append(_Closing(self.slack.close))
            slack_url = self.slack.url
        self.slack_url = slack_url
        self.cluster: KubernetesApiServer | None = None
        self.cluster_url: str | None = None
        if "moto" in self.emulator:
            if self.user_cluster is not None:
                # The user's cluster: its Deployments are its own, nothing is deployed on it.
                kubeconfig, _, self.cluster_url = self.user_cluster
            else:
                # The cluster the rollout Lambda drives: the Kubernetes API test server, one Deployment per target.
                # HTTPS: the kubeconfig it writes trusts its CA, so a user can look at it with kubectl.
                self.cluster = KubernetesApiServer(token=secrets.token_hex(16), tls=True)
                self.started.append(self.cluster)
                provision.deploy_rollout_targets(self.cluster, self.targets)
                kubeconfig = Path(self.cluster.kubeconfig(self.state_dir / "kubeconfig")).read_text()
                self.cluster_url = self.cluster.url
            provision.create_aws(
                self.plan,
                self.specs,
                aws=self.aws,
                targets_document=self.options.rollout_targets.read_text(),
                repositories=self.repositories,
                kubeconfig=kubeconfig,
                slack_url=slack_url,
            )
        self.environment = FunctionEnvironment(
            self.state_dir,
            self.options.project,
            {name: emulator.env for name, emulator in self.emulator.items()},
            slack_url,
        )

    def _start_functions(self) -> None:
        from tooling.localcloud.lambda_sandbox import runtime_available

        lambdas = [spec.name for spec in self.specs if spec.platform == "aws-lambda"]
        if lambdas:  # lambda_endpoint.py runs each under awslambdaric where it is installed
            self.lambda_runtime = (
                f"{', '.join(lambdas)} under awslambdaric, with the manifest's timeout and memory"
                if runtime_available()
                else f"{', '.join(lambdas)} in-process, WITHOUT its timeout or memory limit: awslambdaric is not "
                "installed (`pip install -e '.[local]'` installs it on Linux)"
            )
        for spec in self.specs:
            port = free_port()
            if spec.platform == "aws-lambda":
                argv = [sys.executable, "-m", "tooling.localcloud.lambda_endpoint", "--function", spec.name]
                argv += ["--host", HOST, "--port", str(port), "--account", AWS_ACCOUNT, "--region", AWS_REGION]
            else:
                argv = function_command(spec.source_path, spec.entry_point, port=port, signature=spec.signature)
            process = ServedProcess(
                spec.name,
                argv,
                self.environment.of(spec, os.environ),
                port,
                self.logs / f"{spec.name}.log",
                cwd=REPO_ROOT,
                on_restart=self._restarted,
            )
            self.served[spec.name] = Served(spec, process)
        if self.serve_inference and importlib.util.find_spec("torch") is not None:
            port = free_port()
            # The container's command: uvicorn with the service's limits on slow and large request heads.
            argv = [sys.executable, "-m", "mlops_inference.server"]
            argv += ["--host", HOST, "--port", str(port), "--no-access-log"]
            env = self.environment.of_inference(
                self.options.envs[0],
                os.environ,
                alias=self.options.inference_alias,
                capture=self.options.inference_capture,
            )
            # MODEL_ALIAS and the sink as the service reads them (an --inference-* option, else the caller's shell)
            sink = env.get("INFERENCE_CAPTURE_SINK") or "parquet"  # the service's default on the emulators profile
            self.inference = {"alias": env.get("MODEL_ALIAS") or None, "capture": sink}
            process = ServedProcess("inference", argv, env, port, self.logs / "inference.log", cwd=REPO_ROOT)
            self.served["inference"] = Served(None, process)
        for served in self.served.values():
            served.process.start()
        for served in self.served.values():
            served.process.wait_listening()
            function = served.spec
            if function is not None:
                url = served.process.url
                if function.platform == "aws-lambda":
                    url += invoke_path(function.name)
                log = OutcomeLog(served.process.log_path)
                served.target = Target(function.name, url, log, timeout_s=request_timeout_s(function))

    def _restarted(self, process: ServedProcess, code: int) -> None:
        self.activity.record(
            Attempt(
                source="up",
                function=process.name,
                subject=f"pid {process.pid}",
                outcome="restarted",
                detail=f"the process exited ({code}); started again, as a new instance would be",
            )
        )
        self._write_state()  # its new pid

    # -- triggers ------------------------------------------------------------------------------------
    def _start_bridges(self) -> None:
        targets = {name: served.target for name, served in self.served.items() if served.target is not None}
        for spec in self.specs:
            if spec.platform != "gcp-function" or spec.name not in targets or self.subscriber is None:
                continue  # no Pub/Sub emulator: `up --only` chose no function a topic or a bucket triggers
            route = pubsub_route(
                spec,
                targets[spec.name],
                subscriber=self.subscriber,
                publisher=self.publisher,
                project=self.options.project,
                envs=self.options.envs,
                activity=self.activity,
                backoff_scale=self.options.backoff_scale,
            )
            if route is not None:
                self.routes.append(route)
                self._thread(f"pull-{spec.name}", route.poll, self.stopping)
        runner = JobRunner(
            publisher=self.publisher,
            project=self.options.project,
            targets=targets,
            activity=self.activity,
            executor=self.executor,
            stopping=self.stopping,
            backoff_scale=self.options.backoff_scale,
        )

        def failed(job: Job, exc: Exception) -> None:
            self.activity.failure("scheduler", job.spec.name, f"job {job.name}", exc)

        self.scheduler = Scheduler(self.jobs, runner.fire, on_error=failed)
        if self.options.schedules:
            self._thread("scheduler", self.scheduler.run, self.stopping)
        lambdas = [s for s in self.specs if s.platform == "aws-lambda" and s.trigger.get("kind") == "eventbridge"]
        if lambdas:
            bridge = EcrToLambda(
                lambdas,
                {spec.name: targets[spec.name] for spec in lambdas},
                aws=self.aws,
                repositories=self.repositories,
                activity=self.activity,
                executor=self.executor,
                backoff_scale=self.options.backoff_scale,
                account=AWS_ACCOUNT,
                region=AWS_REGION,
            )
            bridge.baseline()  # before `up` says it is ready: a push right after must count as one
            self._thread("ecr-events", bridge.watch, self.stopping)

    def _thread(self, name: str, run: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=run, args=args, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _supervise(self) -> None:
        """Bring back dead functions; show what reached the local Slack."""
        slack_log = self.state_dir / "slack-posts.jsonl"
        while not self.stopping.wait(0.25):
            try:
                for served in self.served.values():
                    served.process.check()
                if self.slack is None:
                    continue
                posts = self.slack.posts
                for post in posts[self._slack_seen :]:
                    with slack_log.open("a", encoding="utf-8") as out:
                        out.write(json.dumps(post) + "\n")
                    text = post.get("text") or ""
                    self.activity.record(Attempt(source="slack", function="-", subject=text[:120], outcome="posted"))
                self._slack_seen = len(posts)
            except Exception as exc:  # a failed restart is shown; the supervisor goes on
                self.activity.failure("up", "-", "supervisor", exc)

    # -- control: `mlops-events trigger JOB` -----------------------------------------------------------
    def _start_control(self) -> None:
        self.control = ControlServer(self.run_job, self.state)
        self._thread("control", self.control.serve_forever)
        self.started.append(self.control)

    def run_job(self, name: str) -> None:
        """Fire a schedule now; UnknownJob (listing the jobs) for one the manifest does not have."""
        if self.scheduler is None or name not in self.scheduler.jobs:
            raise UnknownJob(name, sorted(job.name for job in self.jobs))
        self.scheduler.run_now(name)

    # -- state ---------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "started_at": self.started_at,
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
            "inference": self.inference,
            "slack_webhook_url": self.slack_url if self.slack else "(your webhook)",
            "kubernetes_api": self.cluster_url,
            "lambda_runtime": self.lambda_runtime,
            "kubernetes_context": self.user_cluster[1] if self.user_cluster else None,
            "only": list(self.options.only) or None,
            "import": str(self.options.import_dir) if self.options.import_dir else None,
            "export_on_exit": str(self.options.export_dir) if self.options.export_dir else None,
            "resources": provision.describe(self.plan),
            "jobs": sorted(job.name for job in self.jobs),
            "schedules": self.scheduler.next_fire_times() if self.scheduler and self.options.schedules else {},
        }

    def _write_state(self) -> None:
        """up.json (replaced whole, so a reader never sees half of it) and up.env for a shell."""
        with self._state_lock:
            if self.stopping.is_set():  # stop() removes up.json: a late restart must not write it back
                return
            exports = {
                "GOOGLE_CLOUD_PROJECT": self.options.project,
                "MLOPS_EVENTS_PROFILE": "emulators",
                LOCAL_CLOUD_DIR_VARIABLE: str(self.state_dir),  # how a command run from a stale shell names the fix
            }
            for emulator in self.emulator.values():
                exports.update(emulator.env)
            write_state(self.state_dir, self.state(), exports)

    # -- stop ----------------------------------------------------------------------------------------
    def process_groups(self) -> dict[str, int]:
        groups = {name: e.process.pid for name, e in self.emulator.items()}
        groups.update({name: s.process.pid for name, s in self.served.items() if s.process.pid})
        return groups

    def _export_live(self) -> None:
        """What must be exported while its emulator still runs (Firestore, through its export API)."""
        try:
            staging = self.persistence.begin_export()
            if "firestore" in self.emulator:
                emulators.export_firestore(
                    self.emulator["firestore"], self.options.project, staging / "firestore", FIRESTORE_EXPORT_NAME
                )
        except Exception as exc:
            self.export_error = f"{type(exc).__name__}: {exc}"

    def stop(self, timeout_s: float = 10.0) -> dict[str, int]:
        """Stop everything, deliveries first; returns the process groups still alive afterwards (none,
        or a bug: a zombie does not count, a process still exiting gets `timeout_s`)."""
        self.stopping.set()
        groups = self.process_groups()
        for route in self.routes:
            route.stop(timeout_s)
        self.executor.shutdown(wait=False, cancel_futures=True)
        for served in self.served.values():
            served.process.stop()
        export = self.ready and self.options.export_dir is not None
        if export:
            self._export_live()
        for thing in reversed(self.started):
            with contextlib.suppress(Exception):
                thing.stop()
        if export and self.export_error is None:
            try:
                self.exported = self.persistence.finish_export(
                    self.emulator, state_dir=self.state_dir, project=self.options.project
                )
            except Exception as exc:  # stop() goes on: the processes matter more than the export
                self.export_error = f"{type(exc).__name__}: {exc}"
        written = read_state(self.state_dir)
        if written and written.get("pid") == os.getpid():  # never another `up`'s files
            remove_state(self.state_dir)
        deadline = time.monotonic() + timeout_s
        while True:
            left = {name: pgid for name, pgid in groups.items() if group_alive(pgid)}
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.1)


@dataclass
class _Closing:
    close: Callable[[], None]

    def stop(self) -> None:
        self.close()
