"""Builds the adapters a handler needs from the settings, lazily, once per process.

Cloud SDKs are imported inside the factories: a function on the embedded path never pays for them,
and a function only imports the SDKs of the ports it actually touches.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.config import Settings, load_settings
from shared.errors import ConfigError, SlackRejectedError

if TYPE_CHECKING:
    from shared.adapters.firestore_rest import FirestoreRest
    from shared.adapters.google_rest import GoogleApi, JsonHttp, TokenSource
    from shared.adapters.powertools_once import PowertoolsOnce
    from shared.ports import (
        AlertLedger,
        AliasedRegistryStore,
        DeploymentCluster,
        DriftRunStore,
        FeatureProfiler,
        IdempotencyStore,
        ObjectStore,
        RolloutJournal,
        SlackNotifier,
        TargetsSource,
    )


# Covers Cloud Storage, Firestore and BigQuery: one scope for the one credentials object they share.
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_CLOUD_ENDPOINTS = {
    "firestore": "https://firestore.googleapis.com/v1/",
    "storage": "https://storage.googleapis.com/",
    "bigquery": "https://bigquery.googleapis.com/bigquery/v2/",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class Deps:
    """What handlers receive. Each port is built on first use from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = utc_now

    @property
    def profile(self) -> str:
        return self.settings.profile

    @cached_property
    def objects(self) -> ObjectStore:
        if self.profile == "embedded":
            from shared.adapters.local_object_store import LocalObjectStore

            return LocalObjectStore(self.settings.buckets_dir)
        from shared.adapters.gcs_object_store import GcsObjectStore

        return GcsObjectStore(self.google_api("storage"), self.settings.gcp_project)

    @cached_property
    def registry(self) -> AliasedRegistryStore:
        if self.profile == "embedded":
            from shared.adapters.sqlite_registry import SqliteRegistryStore

            return SqliteRegistryStore(self.settings.state_dir / "registry.sqlite")
        from shared.adapters.bigquery_inserts import StreamingInserts
        from shared.adapters.bigquery_registry import BigQueryRegistryTable
        from shared.adapters.firestore_registry import FirestoreRegistryStore
        from shared.adapters.registry_fanout import FanOutRegistryStore

        # The SDK client is built on the table's first query: a registration only appends (over REST).
        history = BigQueryRegistryTable(
            _BuiltOnFirstUse(self.bigquery_client),  # type: ignore[arg-type]  # stands in for the Client
            self.settings.bigquery_table_id,
            inserts=StreamingInserts(self.google_api("bigquery")),
        )
        return FanOutRegistryStore(
            primary=FirestoreRegistryStore(self.firestore_client(), self.settings.firestore_collection),
            secondary=history,
        )

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        if self.profile == "embedded":
            from shared.adapters.sqlite_idempotency import SqliteIdempotencyStore

            return SqliteIdempotencyStore(self.settings.state_dir / "idempotency.sqlite")
        from shared.adapters.firestore_idempotency import FirestoreIdempotencyStore

        return FirestoreIdempotencyStore(self.firestore_client(), self.settings.idempotency_collection)

    @cached_property
    def alert_ledger(self) -> AlertLedger:
        if self.profile == "embedded":
            from shared.adapters.sqlite_alert_ledger import SqliteAlertLedger

            return SqliteAlertLedger(self.settings.state_dir / "alerts.sqlite")
        from shared.adapters.firestore_alert_ledger import FirestoreAlertLedger

        return FirestoreAlertLedger(self.firestore_client(), self.settings.budget_alert_collection)

    @cached_property
    def feature_profiler(self) -> FeatureProfiler:
        from shared.drift.engines.by_location import DriftSourceProfiler
        from shared.drift.engines.parquet_files import ParquetProfiler

        if self.profile == "embedded":
            from shared.adapters.local_parquet_files import LocalParquetFiles

            return DriftSourceProfiler(parquet=lambda: ParquetProfiler(LocalParquetFiles(self.settings.buckets_dir)))
        from shared.adapters.gcs_parquet_files import GcsParquetFiles
        from shared.drift.engines.bigquery_sql import BigQueryProfiler

        return DriftSourceProfiler(
            parquet=lambda: ParquetProfiler(GcsParquetFiles(self.storage_client())),
            bigquery=lambda: BigQueryProfiler(self.bigquery_client()),
        )

    @cached_property
    def drift_runs(self) -> DriftRunStore:
        if self.profile == "embedded":
            from shared.adapters.sqlite_drift_runs import SqliteDriftRunStore

            return SqliteDriftRunStore(self.settings.state_dir / "monitoring.sqlite")
        from shared.adapters.bigquery_drift_runs import BigQueryDriftRunStore

        table = f"{self.settings.gcp_project}.{self.settings.monitoring_dataset}.drift_runs"
        return BigQueryDriftRunStore(self.bigquery_client(), table)

    # -- ecr_rollout (AWS Lambda) ------------------------------------------------------------------
    @cached_property
    def rollout_targets(self) -> TargetsSource:
        from shared.adapters.rollout_targets_sources import FileTargetsSource, SsmTargetsSource

        if self.settings.rollout_targets_parameter:
            from shared.adapters.aws_parameters import SsmParameter

            return SsmTargetsSource(SsmParameter(self._aws_client("ssm"), self.settings.rollout_targets_parameter))
        return FileTargetsSource(self.settings.rollout_targets_path)

    @cached_property
    def cluster(self) -> DeploymentCluster:
        return _ReloadingCluster(self._build_cluster)

    def _build_cluster(self) -> DeploymentCluster:
        """A kubeconfig from Secrets Manager, else a kubeconfig file; the embedded profile without
        either plans a dry run. Elsewhere a missing cluster is a configuration error, not a dry run."""
        settings = self.settings
        if settings.kubeconfig_secret or settings.kubeconfig:
            from shared.adapters.kubernetes_cluster import KubernetesCluster, api_client_from_kubeconfig

            if settings.kubeconfig_secret:
                from shared.adapters.aws_parameters import SecretsManagerSecretSource

                document = SecretsManagerSecretSource(self._aws_client("secretsmanager")).get(
                    settings.kubeconfig_secret
                )
                if not document:
                    raise ConfigError(f"Secrets Manager secret {settings.kubeconfig_secret!r} has no kubeconfig")
                return KubernetesCluster(api_client_from_kubeconfig(document))
            return KubernetesCluster(api_client_from_kubeconfig(path=str(settings.kubeconfig)))
        if self.profile != "embedded":
            raise ConfigError("no cluster: set MLOPS_EVENTS_KUBECONFIG_SECRET or MLOPS_EVENTS_KUBECONFIG (KUBECONFIG)")
        from shared.adapters.dry_run_cluster import DryRunCluster

        def containers_of(namespace: str, name: str) -> list[str]:
            targets = self.rollout_targets.load().targets
            return [t.container for t in targets if (t.namespace, t.deployment) == (namespace, name)]

        return DryRunCluster(settings.state_dir / "dry-run-cluster.json", containers_of)

    @cached_property
    def rollout_once(self) -> PowertoolsOnce:
        from shared.adapters.powertools_once import PowertoolsOnce

        if self.profile == "embedded":
            from shared.adapters.sqlite_idempotency_layer import SqlitePersistenceLayer

            return PowertoolsOnce(SqlitePersistenceLayer(self.settings.state_dir / "rollout-idempotency.sqlite"))
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        table = self.settings.idempotency_table
        return PowertoolsOnce(DynamoDBPersistenceLayer(table_name=table, boto3_client=self._aws_client("dynamodb")))

    @cached_property
    def rollout_journal(self) -> RolloutJournal:
        from shared.adapters.jsonl_rollout_journal import JsonlRolloutJournal

        return JsonlRolloutJournal(self.settings.state_dir / "rollouts.jsonl")

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds)

    @cached_property
    def _aws_clients(self) -> dict[str, Any]:
        return {}

    def _aws_client(self, service: str) -> Any:
        """One boto3 client per service and process; AWS_ENDPOINT_URL (moto) and the region come from
        the environment, as the Lambda runtime sets them."""
        if service not in self._aws_clients:
            import boto3

            self._aws_clients[service] = boto3.client(service)
        return self._aws_clients[service]

    @cached_property
    def notifier(self) -> SlackNotifier:
        return _ReloadingNotifier(self._build_notifier)

    def _build_notifier(self) -> SlackNotifier:
        """A webhook URL from the environment, else (cloud) from Secret Manager, else (embedded) the outbox."""
        url = self.settings.slack_webhook_url
        if not url and self.settings.slack_webhook_aws_secret:
            from shared.adapters.aws_parameters import SecretsManagerSecretSource

            url = SecretsManagerSecretSource(self._aws_client("secretsmanager")).get(
                self.settings.slack_webhook_aws_secret
            )
            if not url:
                raise ConfigError(f"Secrets Manager secret {self.settings.slack_webhook_aws_secret!r} has no value")
        if not url and self.profile == "cloud" and self.settings.slack_webhook_secret:
            from google.cloud import secretmanager

            from shared.adapters.secrets import SecretManagerSecretSource

            client = secretmanager.SecretManagerServiceClient(credentials=self.google_credentials)
            source = SecretManagerSecretSource(client, self.settings.gcp_project)
            url = source.get(self.settings.slack_webhook_secret)
            if not url:
                raise ConfigError(f"Secret Manager secret {self.settings.slack_webhook_secret!r} has no value")
        if url:
            from shared.adapters.slack_webhook import WebhookSlackNotifier

            # The local Slack receiver (tests, `up`) listens on a loopback host: not a cloud profile's webhook.
            return WebhookSlackNotifier(url, allow_local=self.profile != "cloud")
        if self.profile == "cloud":
            raise ConfigError(
                "the cloud profile needs MLOPS_EVENTS_SLACK_WEBHOOK_SECRET (GCP), "
                "MLOPS_EVENTS_SLACK_WEBHOOK_AWS_SECRET (AWS) or MLOPS_EVENTS_SLACK_WEBHOOK_URL"
            )
        from shared.adapters.slack_outbox import OutboxSlackNotifier

        return OutboxSlackNotifier(self.settings.slack_outbox)

    # -- clients: one per process, shared by the adapters that use them ---------------------------
    @cached_property
    def google_credentials(self) -> Any:
        """One credentials object for every Google client of the process. Left to themselves, the storage,
        Firestore and BigQuery clients each run google.auth.default() (on Cloud Functions a metadata-server
        probe each) and each fetch their own access token on their first call. Scoped to cloud-platform
        here, so no client needs to copy it for its own scopes and all share one token."""
        if self.profile == "emulators":
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()
        import google.auth

        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
        return credentials

    @cached_property
    def _http(self) -> JsonHttp:
        from shared.adapters.google_rest import JsonHttp

        return JsonHttp()

    @cached_property
    def _google_token(self) -> TokenSource:
        from shared.adapters.google_rest import CredentialsToken, MetadataServerToken, on_google_serverless

        # On Cloud Run / Functions the metadata server's token, without google-auth's ~65 ms import.
        return MetadataServerToken(self._http) if on_google_serverless() else CredentialsToken(self.google_credentials)

    def google_api(self, service: str) -> GoogleApi:
        """A REST endpoint (firestore, storage, bigquery) with its credentials: the emulators' on that profile."""
        from shared.adapters.google_rest import FixedToken, GoogleApi, emulator_base

        if self.profile != "emulators":
            return GoogleApi(_CLOUD_ENDPOINTS[service], self._google_token, self._http)
        if service == "bigquery":
            if not self.settings.bigquery_endpoint:
                raise ConfigError("the emulators profile needs MLOPS_EVENTS_BIGQUERY_ENDPOINT (bqemulator's REST URL)")
            return GoogleApi(emulator_base(self.settings.bigquery_endpoint) + "bigquery/v2/", FixedToken(), self._http)
        variable = {"firestore": "FIRESTORE_EMULATOR_HOST", "storage": "STORAGE_EMULATOR_HOST"}[service]
        host = os.environ.get(variable)
        if not host:
            raise ConfigError(f"the emulators profile needs {variable}")
        if service == "firestore":  # `owner`: the emulator's admin token, past any security rules
            return GoogleApi(emulator_base(host) + "v1/", FixedToken("owner"), self._http)
        return GoogleApi(emulator_base(host), FixedToken(), self._http)

    @cached_property
    def _firestore(self) -> FirestoreRest:
        from shared.adapters.firestore_rest import FirestoreRest

        return FirestoreRest(self.google_api("firestore"), self.settings.gcp_project)

    def firestore_client(self) -> FirestoreRest:
        """Firestore over REST, for the functions' adapters (see shared/adapters/firestore_rest.py)."""
        return self._firestore

    @cached_property
    def _firestore_sdk(self) -> Any:
        from google.cloud import firestore

        return firestore.Client(project=self.settings.gcp_project, credentials=self.google_credentials)

    def firestore_sdk_client(self) -> Any:
        """google-cloud-firestore, for what the REST client does not do (the inference service's transactions)."""
        return self._firestore_sdk

    def storage_client(self) -> Any:
        return self._storage

    def bigquery_client(self) -> Any:
        return self._bigquery

    @cached_property
    def _storage(self) -> Any:
        from google.cloud import storage  # type: ignore[attr-defined]  # untyped, in a typed namespace

        return storage.Client(project=self.settings.gcp_project, credentials=self.google_credentials)

    @cached_property
    def _bigquery(self) -> Any:
        from google.cloud import bigquery

        if self.profile == "emulators":
            if not self.settings.bigquery_endpoint:
                raise ConfigError("the emulators profile needs MLOPS_EVENTS_BIGQUERY_ENDPOINT (bqemulator's REST URL)")
            from google.api_core.client_options import ClientOptions

            return bigquery.Client(
                project=self.settings.gcp_project,
                credentials=self.google_credentials,
                client_options=ClientOptions(api_endpoint=self.settings.bigquery_endpoint),
            )
        return bigquery.Client(project=self.settings.gcp_project, credentials=self.google_credentials)


class _ReloadingNotifier:
    """Built on the first post; built again after Slack rejects the webhook (404 `no_service` once the
    secret was rotated), so a new URL in Secret Manager is picked up without restarting the instance."""

    def __init__(self, build: Callable[[], SlackNotifier]) -> None:
        self._build = build
        self._inner: SlackNotifier | None = None

    def post(self, payload: dict[str, Any]) -> None:
        if self._inner is None:
            self._inner = self._build()
        try:
            self._inner.post(payload)
        except SlackRejectedError:
            self._inner = None
            raise


class _ReloadingCluster:
    """Built on first use; built again after the cluster refused our credentials, so a token rotated
    in Secrets Manager is picked up by the retry, without waiting for a cold start."""

    def __init__(self, build: Callable[[], DeploymentCluster]) -> None:
        self._build = build
        self._inner: DeploymentCluster | None = None

    def _cluster(self) -> DeploymentCluster:
        if self._inner is None:
            self._inner = self._build()
        return self._inner

    @property
    def dry_run(self) -> bool:
        return self._cluster().dry_run

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._cluster(), method)(*args)
        except ConfigError:
            self._inner = None
            raise

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._call("get_deployment", namespace, name)

    def patch_deployment(self, namespace: str, name: str, patch: Any) -> dict[str, Any]:
        return self._call("patch_deployment", namespace, name, patch)

    def list_replicasets(self, namespace: str, match_labels: dict[str, str]) -> list[dict[str, Any]]:
        return self._call("list_replicasets", namespace, match_labels)


_cache: dict[tuple[tuple[str, str], ...], Deps] = {}


def current_deps() -> Deps:
    """The process's Deps for the settings in force now (the CLI may change them between calls)."""
    settings = load_settings()
    if settings.cache_key not in _cache:
        _cache[settings.cache_key] = Deps(settings)
    return _cache[settings.cache_key]


class _BuiltOnFirstUse:
    """A client built when an attribute is first asked of it, so an adapter can hold one its path never uses."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._build()
        return getattr(self._client, name)
