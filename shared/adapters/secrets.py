"""SecretSources: the process environment (embedded, emulators, tests) and Google Secret Manager (cloud).

Values are never part of a message or a repr, and each is registered with shared.secret_values as it is
read, so that no log line or CLI output shows it in any shape. Secret Manager values are kept for a few
minutes: a function instance lives for hours and secrets rotate, but an access per event would add latency
and cost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from shared.adapters.gcp_errors import translate_errors
from shared.adapters.ttl_cache import TtlCache
from shared.secret_values import remember_secret

if TYPE_CHECKING:
    from google.cloud import secretmanager

DEFAULT_CACHE_TTL_S = 300.0


class EnvSecretSource:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def get(self, name: str) -> str | None:
        raw = self._environ.get(name) or ""
        remember_secret(raw, raw.strip())
        return raw.strip() or None


class SecretManagerSecretSource:
    """`name` is a secret id of `project` (its latest version) or a full `projects/.../versions/N` name."""

    def __init__(
        self,
        client: secretmanager.SecretManagerServiceClient,
        project: str,
        *,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._project = project
        self._cache = TtlCache(cache_ttl_s, clock)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(project={self._project!r})"

    def version_name(self, name: str) -> str:
        if not name.startswith("projects/"):
            return f"projects/{self._project}/secrets/{name}/versions/latest"
        return name if "/versions/" in name else f"{name}/versions/latest"

    def get(self, name: str) -> str | None:
        version = self.version_name(name)
        return self._cache.get(version, lambda: self._access(version))

    def _access(self, version: str) -> str | None:
        from google.api_core.exceptions import NotFound

        # PermissionDenied, InvalidArgument, FailedPrecondition (a disabled version) are configuration
        # problems and raise as they are; their messages name the secret, never its value.
        with translate_errors(f"access secret {version}"):
            try:
                response = self._client.access_secret_version(request={"name": version})
            except NotFound:
                return None
        value = response.payload.data.decode("utf-8")
        remember_secret(value, value.strip())
        return value.strip() or None
