"""OnceRunner on powertools' idempotency utility: DynamoDB in the cloud (and on moto), SQLite embedded.

The key is the data passed in (repository + digest), hashed by powertools; the action's result is
stored with the record, so a duplicate event gets the first run's result back. An in-progress record
left by a Lambda that timed out expires with the invocation (`register_lambda_context`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.errors import AlreadyInProgressError, TransientError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig

DEFAULT_EXPIRY_S = 7 * 24 * 3600  # a digest pushed again within a week is the same rollout


class PowertoolsOnce:
    def __init__(self, persistence: BasePersistenceLayer, config: IdempotencyConfig | None = None) -> None:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        self._persistence = persistence
        self.config = config or IdempotencyConfig(expires_after_seconds=DEFAULT_EXPIRY_S)

    def register_lambda_context(self, context: Any) -> None:
        self.config.register_lambda_context(context)

    def __call__(self, data: dict[str, str], action: Callable[[], dict[str, Any]]) -> tuple[bool, dict[str, Any]]:
        from aws_lambda_powertools.utilities.idempotency import idempotent_function
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
        )

        ran = []

        @idempotent_function(data_keyword_argument="data", persistence_store=self._persistence, config=self.config)
        def once(data: dict[str, str]) -> dict[str, Any]:
            ran.append(True)
            return action()

        try:
            result = once(data=data)
        except IdempotencyAlreadyInProgressError:
            raise AlreadyInProgressError(f"another invocation is rolling out {data}") from None
        except IdempotencyPersistenceLayerError as exc:
            raise TransientError(f"idempotency store unavailable: {exc}") from None
        return bool(ran), result
