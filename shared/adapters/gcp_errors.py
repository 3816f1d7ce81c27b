"""Google SDK errors translated into the project's own, so callers never import an SDK to decide on a retry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from shared.errors import TransientError


@cache
def _transient_types() -> tuple[type[BaseException], ...]:
    # Imported on first use: the adapter that calls this has already loaded the SDK with its client.
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    try:  # the HTTP transport of storage and bigquery; Firestore speaks gRPC and may run without it
        import requests

        http: tuple[type[BaseException], ...] = (requests.ConnectionError, requests.Timeout)
    except ImportError:
        http = ()
    return (
        *http,
        api.ServiceUnavailable,
        api.DeadlineExceeded,
        api.InternalServerError,
        api.BadGateway,
        api.GatewayTimeout,
        api.TooManyRequests,
        api.Aborted,
        api.RetryError,  # an SDK retry loop that ran out of time on one of the above
        auth.TransportError,
        ConnectionError,
        TimeoutError,
    )


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _transient_types()):
        return True
    # Firestore's @transactional gives up on contention with a ValueError whose cause is the last Aborted.
    return isinstance(exc, ValueError) and isinstance(exc.__cause__, _transient_types())


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Re-raise retryable SDK failures as TransientError (the platform redelivers); let the rest through."""
    try:
        yield
    except TransientError:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc
        raise
