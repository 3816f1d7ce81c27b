"""Claim, act, confirm: the side effect of one event happens once per natural key.

A claim left behind by a crashed delivery expires, so the redelivery can take it over; a claim
released after a failure is free at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.ports import Clock, IdempotencyStore

DEFAULT_CLAIM_TTL_S = 600.0  # longer than any function timeout we deploy (540 s max for gen2 events)


def run_once(
    store: IdempotencyStore,
    key: str,
    action: Callable[[], dict[str, Any]],
    *,
    clock: Clock,
    claim_ttl_s: float = DEFAULT_CLAIM_TTL_S,
) -> tuple[bool, dict[str, Any]]:
    """(True, result) when this call did the work; (False, earlier result) for a duplicate."""
    earlier = store.claim(key, now=clock(), expires_in_s=claim_ttl_s)
    if earlier is not None:
        return False, earlier
    try:
        result = action()
    except BaseException:
        store.release(key)
        raise
    store.complete(key, result, now=clock())
    return True, result
