"""The clients the holds are read with, for one of two places, each built on first use:

- the running `mlops-events up`: its state (up.json, confirmed by its control endpoint, as `mlops-events
  status` reads it) says where the Pub/Sub emulator, moto and the local Lambda Invoke API listen, and
  which project it emulates;
- the cloud: Google's application default credentials and project, boto3's credential chain and region.
  An emulator variable in the environment (`source up.env`) would send a client to the emulator instead,
  so it is refused rather than followed.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tooling.dead_letters.errors import DeadLetterError
from tooling.dead_letters.holds import Hold
from tooling.dead_letters.pubsub_hold import PubsubHold
from tooling.dead_letters.sqs_hold import LambdaFailureQueue
from tooling.manifest import FunctionSpec

LAMBDA_ANSWER_MARGIN_S = 60
_EMULATOR_VARIABLE = threading.Lock()  # a synchronous invoke waits for the function's whole timeout, and then some


@dataclass
class Place:
    """Where the holds are: `describe` names it in messages."""

    describe: str
    project: str
    queue_suffix: str  # what the deployment adds to the on-failure queue's name
    local: bool = False  # the emulators of `up` (below) rather than the cloud
    pubsub_host: str | None = None  # the Pub/Sub emulator's host:port (None locally: `up` runs none)
    aws_endpoint: str | None = None  # moto's URL (None locally: `up` runs none)
    aws_env: dict[str, str] = field(default_factory=dict)  # moto's dummy keys and region
    lambda_endpoints: dict[str, str] = field(default_factory=dict)  # function -> local Invoke API origin
    aws_region: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def reader(self, hold: Hold) -> PubsubHold | LambdaFailureQueue:
        if hold.kind == "pubsub":
            publisher, subscriber = self._pubsub()
            return PubsubHold(
                hold, project=self.project, subscriber=subscriber, publisher=publisher, immediate=self.local
            )
        return LambdaFailureQueue(
            hold,
            sqs=self._aws("sqs", None),
            lambda_client=lambda region: self._lambda(hold.functions[0], region),
            wait_s=0 if self.local else 1,
        )

    # -- Google ----------------------------------------------------------------------------------------
    def _pubsub(self) -> tuple[Any, Any]:
        if self.local and self.pubsub_host is None:
            raise DeadLetterError(f"{self.describe} runs no Pub/Sub emulator: its dead-letter topics are not there")
        if "pubsub" not in self._clients:
            # google-cloud-pubsub imported here: `mlops-events --help` and the AWS side do not pay for it.
            from google import pubsub_v1

            if self.pubsub_host is None:
                from google.auth.exceptions import DefaultCredentialsError

                try:
                    self._clients["pubsub"] = (pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient())
                except DefaultCredentialsError:
                    raise DeadLetterError(
                        "no Google Cloud credentials: `gcloud auth application-default login`, or "
                        "GOOGLE_APPLICATION_CREDENTIALS naming a service account key"
                    ) from None
            else:
                self._clients["pubsub"] = _emulator_clients(self.pubsub_host)
        publisher, subscriber = self._clients["pubsub"]
        return publisher, subscriber

    # -- AWS -------------------------------------------------------------------------------------------
    def _aws(self, service: str, region: str | None, **options: Any) -> Any:
        key = f"{service}@{region}"
        if key not in self._clients:
            import boto3

            self._clients[key] = boto3.client(service, **self._aws_settings(region), **options)
        return self._clients[key]

    def _aws_settings(self, region: str | None) -> dict[str, Any]:
        if self.local and self.aws_endpoint is None:
            raise DeadLetterError(f"{self.describe} runs no moto: the Lambda's on-failure queue is not there")
        if not self.local:
            if os.environ.get("AWS_ENDPOINT_URL"):
                raise DeadLetterError(
                    "AWS_ENDPOINT_URL is set (from up.env?): it would send the AWS clients to it instead of AWS; "
                    "unset it to reach the cloud, or leave out --cloud to read the local cloud"
                )
            return {"region_name": region or self.aws_region} if (region or self.aws_region) else {}
        return {
            "endpoint_url": self.aws_endpoint,
            "region_name": self.aws_env.get("AWS_REGION") or region or "us-east-1",
            "aws_access_key_id": self.aws_env.get("AWS_ACCESS_KEY_ID", "testing"),
            "aws_secret_access_key": self.aws_env.get("AWS_SECRET_ACCESS_KEY", "testing"),
        }

    def _lambda(self, spec: FunctionSpec, region: str | None) -> Any:
        from botocore.config import Config

        config = Config(
            read_timeout=int(spec.timeout_s or 900) + LAMBDA_ANSWER_MARGIN_S,
            retries={"total_max_attempts": 1},  # a retried invoke could run the rollout twice
        )
        if not self.local:
            return self._aws("lambda", region, config=config)
        endpoint = self.lambda_endpoints.get(spec.name)
        if endpoint is None:
            raise DeadLetterError(f"the local cloud serves no Lambda {spec.name} to invoke")
        key = f"lambda@{spec.name}"
        if key not in self._clients:
            import boto3

            settings = {**self._aws_settings(region), "endpoint_url": endpoint}
            self._clients[key] = boto3.client("lambda", config=config, **settings)
        return self._clients[key]


def _emulator_clients(host: str) -> tuple[Any, Any]:
    """Clients on the emulator's plain-text channel. The library opens one only for PUBSUB_EMULATOR_HOST, read
    as its client is made: set for that moment only (a CLI test must not leave it behind). The publisher is
    the GAPIC one on the same transport, whose `publish` returns once the message is stored."""
    from google import pubsub_v1
    from google.cloud import pubsub_v1 as pubsub_library  # type: ignore[attr-defined]  # untyped, in a typed namespace

    with _EMULATOR_VARIABLE:
        previous = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = host
        try:
            library_publisher = pubsub_library.PublisherClient()
            subscriber = pubsub_library.SubscriberClient()
        finally:
            if previous is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = previous
    return pubsub_v1.PublisherClient(transport=library_publisher.transport), subscriber


def local_place(state_dir: Path) -> Place:
    """The running `mlops-events up` of `state_dir`: up.json, confirmed by its control endpoint."""
    from tooling.localcloud.lifecycle import NotRunning, live_state

    try:
        state = live_state(state_dir)
    except NotRunning as exc:
        raise DeadLetterError(f"{exc}; or pass --cloud to read the deployed platform's holds") from None
    try:
        emulators = state["emulators"]
        pubsub = emulators.get("pubsub")
        pubsub_host = pubsub["env"]["PUBSUB_EMULATOR_HOST"] if pubsub else None
        moto = emulators.get("moto") or {}
        lambdas = {
            name: _origin(function["url"])
            for name, function in state.get("functions", {}).items()
            if "/2015-03-31/functions/" in str(function.get("url", ""))
        }
        project = str(state["project"])
    except (KeyError, TypeError) as exc:
        raise DeadLetterError(f"{state_dir / 'up.json'} lacks {exc}: is it from another version of up?") from None
    _remember_local_secrets(state)
    return Place(
        describe=f"the local cloud of {state_dir}",
        project=project,
        queue_suffix="",
        local=True,
        pubsub_host=pubsub_host,
        aws_endpoint=moto.get("url"),
        aws_env=dict(moto.get("env", {})),
        lambda_endpoints=lambdas,
    )


def cloud_place(project: str | None, env: str, region: str | None) -> Place:
    """The deployed platform: the GCP project (else the application default credentials' one), the
    environment whose on-failure queue is read (`<queue>-<env>`), the AWS region (else boto3's)."""
    if os.environ.get("PUBSUB_EMULATOR_HOST"):
        raise DeadLetterError(
            "PUBSUB_EMULATOR_HOST is set (from up.env?): unset it to reach the cloud, or leave out --cloud"
        )
    if not project:
        project = os.environ.get("GOOGLE_CLOUD_PROJECT") or _default_project()
    return Place(describe=f"project {project} ({env})", project=project, queue_suffix=f"-{env}", aws_region=region)


def _default_project() -> str:
    import google.auth

    _, project = google.auth.default()
    if not project:
        raise DeadLetterError("no GCP project: pass --project, or set GOOGLE_CLOUD_PROJECT")
    return str(project)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _remember_local_secrets(state: dict[str, Any]) -> None:
    """The local Slack receiver's URL carries a token, and a dead budget alert's error may quote it."""
    from shared.secret_values import remember_secret

    url = state.get("slack_webhook_url")
    if isinstance(url, str) and "/services/" in url:
        remember_secret(url)
