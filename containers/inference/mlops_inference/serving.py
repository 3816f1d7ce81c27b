"""The model being served, swapped for a newer registered version without a restart.

A background thread asks the registry every `reload_s` whether the latest version (or one of its
files' generations) changed; if so it loads the new one completely (files read, TorchScript loaded,
a dry run passed) and only then swaps the reference. A request or batch in flight keeps the model it
started with, so nothing is dropped. A version that fails to load leaves the current one serving and
is reported by /readyz and the metrics.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlops_inference.model import LoadedModel, ModelError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlops_inference.model_source import RegistryModelSource, VersionFiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadAttempt:
    version: int | None
    error: str | None
    at: datetime


class ModelHolder:
    def __init__(self, source: RegistryModelSource, *, on_swap: Callable[[LoadedModel], None] | None = None) -> None:
        self._source = source
        self.on_swap = on_swap
        self._lock = threading.Lock()  # one refresh at a time; readers never wait on it
        self.current: LoadedModel | None = None
        self.last_attempt: LoadAttempt | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def model_name(self) -> str:
        return self._source.model

    def _is_current(self, files: VersionFiles) -> bool:
        current = self.current
        return current is not None and (current.version, current.generations) == (files.version, files.generations)

    def refresh(self) -> bool:
        """Load the latest version if it is not the one served. True when a new model was swapped in."""
        with self._lock:
            now = datetime.now(UTC)
            try:
                files = self._source.serving()
            except Exception as exc:  # the registry is down: keep serving what we have
                self.last_attempt = LoadAttempt(None, f"registry unavailable: {exc}", now)
                log.warning("model registry unavailable: %s", exc)
                return False
            if files is None:
                source = self._source
                missing = (
                    f"alias {source.alias} of {source.model} points to no live version in {source.env}"
                    if source.alias
                    else f"no version of {source.model} registered"
                )
                self.last_attempt = LoadAttempt(None, missing, now)
                return False
            if self._is_current(files):
                return False
            try:
                model = self._source.load(files)
            except ModelError as exc:
                self.last_attempt = LoadAttempt(files.version, str(exc), now)
                log.error("cannot serve %s v%s: %s", files.model, files.version, exc)
                return False
            except Exception as exc:  # the object store failed: try again next round
                self.last_attempt = LoadAttempt(files.version, f"loading failed: {exc}", now)
                log.warning("loading %s v%s failed: %s", files.model, files.version, exc)
                return False
            self.current = model  # one reference assignment: requests see the old or the new model, whole
            self.last_attempt = LoadAttempt(files.version, None, now)
            log.info("serving %s v%s (%s)", model.name, model.version, self._source.wanted)
        if self.on_swap:
            self.on_swap(model)
        return True

    def start(self, reload_s: float) -> None:
        """Poll the registry in a daemon thread (the registry has no push notification to the service)."""
        if self._thread or reload_s <= 0:
            return

        def poll() -> None:
            while not self._stop.wait(reload_s):
                self.refresh()

        self._thread = threading.Thread(target=poll, name="model-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None
