"""Settings from the environment (prefix `MLOPS_EVENTS_`), one object per process.

Profiles pick backends: `embedded` (local folder + SQLite, no services), `emulators` (the GCP and
AWS emulators, endpoints from the usual `*_EMULATOR_HOST` variables), `cloud` (real services).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["embedded", "emulators", "cloud"]
PROFILES: tuple[Profile, ...] = ("embedded", "emulators", "cloud")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_EVENTS_", frozen=True, extra="ignore")

    profile: Profile = "embedded"
    state_dir: Path = Path(".mlops-events")
    # Buckets whose name matches this pattern hold models; {env} is the environment.
    bucket_pattern: str = "ml-models-{env}"
    # Embedded profile: buckets are folders under this directory (default <state_dir>/buckets).
    local_buckets_dir: Path | None = None

    gcp_project: str = Field(
        "mlops-events-local",
        validation_alias=AliasChoices("MLOPS_EVENTS_GCP_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCP_PROJECT"),
    )
    bigquery_dataset: str = "ml_registry"
    bigquery_table: str = "models"
    # bqemulator's REST endpoint (emulators profile); unset means the real BigQuery API.
    bigquery_endpoint: str | None = None
    firestore_collection: str = "models"
    idempotency_collection: str = "idempotency"
    claim_ttl_s: float = Field(600.0, gt=0)

    log_level: str = "INFO"

    @property
    def buckets_dir(self) -> Path:
        return self.local_buckets_dir or self.state_dir / "buckets"

    @property
    def bigquery_table_id(self) -> str:
        return f"{self.gcp_project}.{self.bigquery_dataset}.{self.bigquery_table}"


def load_settings() -> Settings:
    return Settings()
