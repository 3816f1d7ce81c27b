"""DeploymentCluster on a real Kubernetes API (k3s in the cloud profile) through the kubernetes client.

Responses are read as the raw JSON the server sent (`_preload_content=False`), not as client models:
the rollback's JSON patch `test`s the pod template it replaces, and a model round trip drops fields
it does not know, which would make that test fail on a newer server. The client is passed in, built
by `shared.deps` from a kubeconfig (Secrets Manager in the cloud, `KUBECONFIG` locally).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from shared.errors import ConfigError, ConflictError, PermanentError, TransientError
from shared.secret_values import redact, remember_secret

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

DEFAULT_TIMEOUT_S = 10.0  # per API call: a round of reads must fit in the rollout margin


class KubernetesCluster:
    dry_run = False

    def __init__(self, api_client: ApiClient, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        from kubernetes.client import AppsV1Api  # lazily: the client costs ~0.3 s to import

        self._apps = AppsV1Api(api_client)
        self._timeout_s = timeout_s

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        """API errors in the project's terms: conflicts and outages are transient, auth is configuration."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            yield
        except ApiException as exc:
            status = exc.status or 0
            reason = _reason(exc)
            if status == 403 and "admission webhook" in reason:  # a policy said no: this change, not our access
                raise PermanentError(f"{what}: denied by admission: {reason}") from None
            if status in (401, 403):
                raise ConfigError(f"{what}: the cluster refused our credentials ({status} {reason})") from None
            if status == 409:
                raise ConflictError(f"{what}: {reason}") from None
            if status == 429 or status >= 500:
                raise TransientError(f"{what}: {status} {reason}") from None
            raise PermanentError(f"{what}: {status} {reason}") from None
        except HTTPError as exc:
            raise TransientError(f"{what}: cluster unreachable: {redact(str(exc))}") from None

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        with self._calls(f"read deployment {namespace}/{name}"):
            try:
                response = self._apps.read_namespaced_deployment(
                    name, namespace, _preload_content=False, _request_timeout=self._timeout_s
                )
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
        return json.loads(response.data)

    def patch_deployment(self, namespace: str, name: str, patch: dict[str, Any] | list[dict[str, Any]]) -> dict:
        # The client sends a list as application/json-patch+json and a dict as a strategic merge patch.
        with self._calls(f"patch deployment {namespace}/{name}"):
            response = self._apps.patch_namespaced_deployment(
                name, namespace, patch, _preload_content=False, _request_timeout=self._timeout_s
            )
        return json.loads(response.data)

    def list_replicasets(self, namespace: str, match_labels: dict[str, str]) -> list[dict[str, Any]]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
        with self._calls(f"list replicasets in {namespace}"):
            response = self._apps.list_namespaced_replica_set(
                namespace, label_selector=selector, _preload_content=False, _request_timeout=self._timeout_s
            )
        return list(json.loads(response.data).get("items") or [])


def _reason(exc: Any) -> str:
    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


def kubeconfig_from_token(secret: dict[str, Any]) -> dict[str, Any]:
    """A kubeconfig for the short form of the secret: {"server", "token", "certificate-authority-data"?}
    (a ServiceAccount token of the rollout's own, what a k3s admin hands out rather than a kubeconfig)."""
    cluster: dict[str, Any] = {"server": secret["server"]}
    if secret.get("certificate-authority-data"):
        cluster["certificate-authority-data"] = secret["certificate-authority-data"]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "k3s", "cluster": cluster}],
        "users": [{"name": "ecr-rollout", "user": {"token": secret["token"]}}],
        "contexts": [{"name": "k3s", "context": {"cluster": "k3s", "user": "ecr-rollout"}}],
        "current-context": "k3s",
    }


def api_client_from_kubeconfig(kubeconfig: str | dict[str, Any] | None = None, *, path: str | None = None) -> Any:
    """An ApiClient from a kubeconfig document (YAML or JSON text, or a dict, e.g. from Secrets Manager),
    the short token form (`kubeconfig_from_token`), or a kubeconfig file."""
    import yaml
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if path:
            config.load_kube_config(config_file=path, client_configuration=configuration)
        else:
            document = yaml.safe_load(kubeconfig) if isinstance(kubeconfig, str) else kubeconfig
            if isinstance(document, dict) and "token" in document and "server" in document:
                document = kubeconfig_from_token(document)
            _remember_credentials(document)  # before the loader runs: its errors may quote what it read
            config.load_kube_config_from_dict(document, client_configuration=configuration)
    except yaml.MarkedYAMLError as exc:  # its text quotes the offending line: a token, maybe
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"kubeconfig unusable: not YAML{where}") from None
    except (config.ConfigException, yaml.YAMLError, TypeError, ValueError, KeyError, AttributeError) as exc:
        # kubeconfig loader messages name fields and files, not their values.
        raise ConfigError(f"kubeconfig unusable: {type(exc).__name__}: {redact(str(exc)[:200])}") from None
    # What the loader resolved (a file's token, an exec plugin's): kept out of every log from now on.
    remember_secret(configuration.password, *(configuration.api_key or {}).values())
    remember_secret(*(v.split(" ", 1)[1] for v in (configuration.api_key or {}).values() if " " in (v or "")))
    return client.ApiClient(configuration)


_CREDENTIALS = ("token", "password", "client-key-data")


def _remember_credentials(document: Any) -> None:
    """Register a kubeconfig's user credentials as secrets: tokens, passwords, private keys."""
    if not isinstance(document, dict):
        return
    for entry in document.get("users") or []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if isinstance(user, dict):
            remember_secret(*(str(user[key]) for key in _CREDENTIALS if user.get(key)))
