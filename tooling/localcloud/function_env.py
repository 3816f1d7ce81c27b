"""The environment each function `up` serves runs with, as its platform would give it: the caller's shell less
what could reach a real cloud, the manifest's `env`, the emulators' variables, the `emulators` profile, and
its secrets where the platform puts them (the Lambda reads Secrets Manager on moto; a GCP function gets the
Slack webhook as a plain variable, since Secret Manager has no emulator)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tooling.manifest import FunctionSpec

# Variables of the caller's shell that could point a local function at a real cloud or cluster.
NEVER_INHERITED = ("GOOGLE_APPLICATION_CREDENTIALS", "KUBECONFIG", "AWS_PROFILE", "AWS_SESSION_TOKEN")
GCP_EMULATORS = ("pubsub", "firestore", "gcs", "bigquery")


@dataclass(frozen=True)
class FunctionEnvironment:
    """What every function's environment is built from, once the emulators run and the Slack URL is known."""

    state_dir: Path
    project: str
    emulators: Mapping[str, Mapping[str, str]]  # emulator name -> the variables its clients read
    slack_url: str

    def of(self, spec: FunctionSpec | None, inherited: Mapping[str, str]) -> dict[str, str]:
        """A manifest function's environment (`spec`), or with None the base the inference service starts from."""
        env = {k: v for k, v in inherited.items() if not k.startswith("MLOPS_EVENTS_") and k not in NEVER_INHERITED}
        env.update(spec.env if spec else {})
        for name in GCP_EMULATORS:  # those that run: `up --only` starts what its functions need
            env.update(self.emulators.get(name, {}))
        env.update(
            {
                "MLOPS_EVENTS_PROFILE": "emulators",
                "MLOPS_EVENTS_STATE_DIR": str(self.state_dir),
                "MLOPS_EVENTS_GCP_PROJECT": self.project,
                "GOOGLE_CLOUD_PROJECT": self.project,
                "PYTHONUNBUFFERED": "1",  # outcome lines reach the log file before the answer does
                "MLOPS_EVENTS_ROLLOUT_POLL_S": "0.5",
            }
        )
        if spec is not None and spec.platform == "aws-lambda":
            env.update(self.emulators["moto"])
            for secret in spec.secrets:  # the Lambda reads its kubeconfig and webhook from Secrets Manager (moto)
                env[secret["env"]] = secret["name"]
        else:
            env["MLOPS_EVENTS_SLACK_WEBHOOK_URL"] = self.slack_url  # Secret Manager has no emulator
            for secret in spec.secrets if spec else []:
                env.pop(secret["env"], None)
        return env

    def of_inference(
        self, env_name: str, inherited: Mapping[str, str], *, alias: str | None = None, capture: str | None = None
    ) -> dict[str, str]:
        """The inference service's: the common base, serving the demo model of the first environment; with
        `alias` the version it points to (MODEL_ALIAS, followed when it moves), with `capture` its predictions
        captured there (INFERENCE_CAPTURE_SINK: parquet into fake-gcs-server, bigquery into bqemulator, or both)."""
        env = self.of(None, inherited)
        env.update({"MODEL_NAME": "fraud-detector", "ENV": env_name, "INFERENCE_RELOAD_S": "2"})
        # A capture lands within a second (the service's default is 10 s): a local loop reads it back at once.
        env.setdefault("INFERENCE_CAPTURE_FLUSH_S", "1")
        if alias:
            env["MODEL_ALIAS"] = alias
        if capture:
            env["INFERENCE_CAPTURE_SINK"] = capture
        return env
