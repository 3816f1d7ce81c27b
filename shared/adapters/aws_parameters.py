"""Configuration and secrets on AWS: SSM Parameter Store and Secrets Manager (moto server in tests).

Both are read through boto3 clients passed in, and kept for a minute or five: a Lambda container lives
for hours, a read per event would add latency and API calls, and a change still lands within minutes.
Values are never part of a message or a repr; botocore errors become the project's own. A secret's
value is registered with shared.secret_values as it is read, so no log line shows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from shared.adapters.ttl_cache import TtlCache
from shared.errors import ConfigError, TransientError
from shared.secret_values import remember_secret

TARGETS_TTL_S = 60.0
SECRETS_TTL_S = 300.0
_TRANSIENT = {"ThrottlingException", "InternalServerError", "InternalFailure", "ServiceUnavailable"}


@contextmanager
def _aws(what: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _TRANSIENT or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            raise TransientError(f"{what}: {code}") from None
        raise ConfigError(f"{what}: {code}") from None  # not found, access denied: fix the configuration
    except BotoCoreError as exc:  # endpoint unreachable, read timeout
        raise TransientError(f"{what}: {type(exc).__name__}") from None


class SsmParameter:
    """One parameter's text (SecureString decrypted)."""

    def __init__(
        self, client: Any, name: str, *, ttl_s: float = TARGETS_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client, self.name = client, name
        self._cache = TtlCache(ttl_s, clock)

    def __repr__(self) -> str:
        return f"SsmParameter({self.name!r})"

    def read(self) -> str:
        def load() -> str:
            with _aws(f"SSM parameter {self.name}"):
                return self._client.get_parameter(Name=self.name, WithDecryption=True)["Parameter"]["Value"]

        return self._cache.get(self.name, load)


class SecretsManagerSecretSource:
    """SecretSource: `name` is a secret's name or ARN (its AWSCURRENT version)."""

    def __init__(
        self, client: Any, *, ttl_s: float = SECRETS_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._cache = TtlCache(ttl_s, clock)

    def __repr__(self) -> str:
        return "SecretsManagerSecretSource()"

    def get(self, name: str) -> str | None:
        def load() -> str | None:
            with _aws(f"Secrets Manager secret {name}"):
                value = self._client.get_secret_value(SecretId=name).get("SecretString")
            remember_secret(value, (value or "").strip())
            return (value or "").strip() or None

        return self._cache.get(name, load)
