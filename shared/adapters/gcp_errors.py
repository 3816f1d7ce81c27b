"""Google SDK errors translated into the project's own, so callers never import an SDK to decide on a retry."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from shared.errors import TransientError


def _transient_types() -> tuple[type[BaseException], ...]:
    """The SDKs' retryable errors, from the SDKs already loaded only: an SDK's exception cannot be raised
    before its module was imported, and importing google.api_core here would cost the REST adapters
    (shared/adapters/google_rest.py) the ~35 ms they avoid."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    api = sys.modules.get("google.api_core.exceptions")
    if api is not None:
        found += [
            api.ServiceUnavailable,
            api.DeadlineExceeded,
            api.InternalServerError,
            api.BadGateway,
            api.GatewayTimeout,
            api.TooManyRequests,
            api.Aborted,
            api.RetryError,  # an SDK retry loop that ran out of time on one of the above
        ]
    auth = sys.modules.get("google.auth.exceptions")
    if auth is not None:
        found.append(auth.TransportError)
    requests = sys.modules.get("requests")
    if requests is not None:  # the HTTP transport of the storage and bigquery SDKs
        found += [requests.ConnectionError, requests.Timeout]
    return tuple(found)


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
