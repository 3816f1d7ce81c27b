"""A small thread-safe cache of values that expire: secrets and parameters read at most every few
minutes. A missing value (None) is remembered too: every event would otherwise ask again, for the
same answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class TtlCache:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s, self._clock = ttl_s, clock
        self._values: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        """The cached value of `key`, or `load()` when there is none or it expired (the lock is not
        held while loading: a slow backend does not block readers of other keys)."""
        now = self._clock()
        with self._lock:
            found = self._values.get(key)
        if found is not None and now < found[0]:
            return found[1]
        value = load()
        with self._lock:
            self._values[key] = (now + self._ttl_s, value)
        return value
