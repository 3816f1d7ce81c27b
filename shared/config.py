"""Settings from the environment (prefix `MLOPS_EVENTS_`), validated, one frozen object.

Profiles pick backends: `embedded` (local folder + SQLite, no services), `emulators` (the GCP and
AWS emulators, endpoints from the usual `*_EMULATOR_HOST` variables), `cloud` (real services).

Why not pydantic-settings: importing it costs ~125 ms, which alone took register_model's cold start
from 1.5x to 2x a bare function (benchmarks/cold_start.py). Settings are a handful of scalars, so a
frozen dataclass read from the environment does the same job with the same names and clear errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, get_args

from shared.errors import ConfigError
from shared.secret_values import remember_secret
from shared.slack_format import valid_mention

Profile = Literal["embedded", "emulators", "cloud"]
PROFILES: tuple[str, ...] = get_args(Profile)
ENV_PREFIX = "MLOPS_EVENTS_"
# A few settings honour the variable Google's own tools set, when ours is absent.
_FALLBACKS = {"gcp_project": ("GOOGLE_CLOUD_PROJECT", "GCP_PROJECT"), "kubeconfig": ("KUBECONFIG",)}


@dataclass(frozen=True)
class Settings:
    profile: str = "embedded"
    state_dir: Path = Path(".mlops-events")
    # Buckets whose name matches this pattern hold models; {env} is the environment.
    bucket_pattern: str = "ml-models-{env}"
    # Embedded profile: buckets are folders under this directory (default <state_dir>/buckets).
    local_buckets_dir: Path | None = None
    gcp_project: str = "mlops-events-local"
    bigquery_dataset: str = "ml_registry"
    bigquery_table: str = "models"
    # bqemulator's REST endpoint (emulators profile); unset means the real BigQuery API.
    bigquery_endpoint: str | None = None
    firestore_collection: str = "models"
    idempotency_collection: str = "idempotency"
    claim_ttl_s: float = 600.0
    log_level: str = "INFO"
    # Slack: a webhook URL (a secret: hidden from repr, redacted from every log), or in the cloud profile the
    # Secret Manager secret holding it. With neither, the embedded profile writes to an outbox file.
    slack_webhook_url: str | None = field(default=None, repr=False, metadata={"secret": True})
    slack_webhook_secret: str | None = None
    budget_alert_collection: str = "budget_alerts"
    # Where drift reports go ({env} is the run's env); the embedded profile keeps it as a local folder.
    drift_logs_bucket: str = "ml-drift-logs-{env}"
    monitoring_dataset: str = "ml_monitoring"  # BigQuery dataset of the drift_runs table
    # A mention added to budget alerts at or above this share of the budget spent (e.g. `<!here>`).
    budget_mention: str | None = None
    budget_mention_at_percent: float = 100.0
    # ecr_rollout (the AWS Lambda). Targets: an SSM parameter when named, else a YAML file
    # (default <state-dir>/rollout-targets.yaml).
    rollout_targets_parameter: str | None = None
    rollout_targets_file: Path | None = None
    # Cluster credentials: a kubeconfig in Secrets Manager (cloud), else a kubeconfig file (this setting,
    # else KUBECONFIG); the embedded profile with neither plans a dry run.
    kubeconfig_secret: str | None = None
    kubeconfig: Path | None = None
    idempotency_table: str = "mlops-events-idempotency"  # DynamoDB, for the Lambda (emulators, cloud)
    slack_webhook_aws_secret: str | None = None  # the Lambda's webhook URL, in Secrets Manager
    # evaluate_model's quality gate (JSON, shared/quality_gate.py): the manifest's entry gives it.
    gate_policy: str | None = None
    rollout_poll_s: float = 2.0
    rollout_margin_s: float = 30.0
    _source: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=True)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(f"{ENV_PREFIX}PROFILE: {self.profile!r} is not one of {', '.join(PROFILES)}")
        if self.bucket_pattern.count("{env}") != 1:
            raise ConfigError(f"{ENV_PREFIX}BUCKET_PATTERN: must contain {{env}} once, got {self.bucket_pattern!r}")
        if self.budget_mention and not valid_mention(self.budget_mention):
            raise ConfigError(f"{ENV_PREFIX}BUDGET_MENTION: expected <!here>, <!channel>, <!subteam^ID> or <@USER>")
        if self.claim_ttl_s <= 0:
            raise ConfigError(f"{ENV_PREFIX}CLAIM_TTL_S: must be positive, got {self.claim_ttl_s}")
        if self.rollout_poll_s <= 0 or self.rollout_margin_s < 0:
            raise ConfigError(f"{ENV_PREFIX}ROLLOUT_POLL_S must be positive and ROLLOUT_MARGIN_S not negative")

    @property
    def slack_outbox(self) -> Path:
        return self.state_dir / "slack-outbox.jsonl"

    @property
    def rollout_targets_path(self) -> Path:
        return self.rollout_targets_file or self.state_dir / "rollout-targets.yaml"

    @property
    def buckets_dir(self) -> Path:
        return self.local_buckets_dir or self.state_dir / "buckets"

    @property
    def bigquery_table_id(self) -> str:
        return f"{self.gcp_project}.{self.bigquery_dataset}.{self.bigquery_table}"

    @property
    def cache_key(self) -> tuple[tuple[str, str], ...]:
        """What these settings were read from: equal keys, equal settings."""
        return self._source


def _convert(name: str, raw: str, kind: object) -> object:
    variable = ENV_PREFIX + name.upper()
    if kind in (Path, "Path", "Path | None"):
        return Path(raw)
    if kind in (float, "float"):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{variable}: expected a number, got {raw!r}") from None
    return raw


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    source: list[tuple[str, str]] = []
    for spec in fields(Settings):
        if spec.name.startswith("_"):
            continue
        names = (ENV_PREFIX + spec.name.upper(), *_FALLBACKS.get(spec.name, ()))
        raw = next((environ[n] for n in names if environ.get(n)), None)
        if raw is not None:
            if spec.metadata.get("secret"):
                remember_secret(raw, raw.strip())  # from now on no log line or CLI output shows it
            values[spec.name] = _convert(spec.name, raw, spec.type)
            source.append((spec.name, raw))
    return Settings(**values, _source=tuple(source))  # type: ignore[arg-type]
