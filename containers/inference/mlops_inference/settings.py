"""The service's own settings, from the environment (the backends' come from shared.config)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class ServiceSettings:
    model_name: str  # MODEL_NAME: which registered model this service serves
    env: str  # ENV: from which environment's bucket
    batching: bool = True  # INFERENCE_BATCHING: off serves each request with its own forward pass
    max_batch_size: int = 32  # INFERENCE_MAX_BATCH_SIZE: rows per forward pass at most
    # INFERENCE_MAX_WAIT_MS: how long a first request waits for company. 0 (the default) batches only what
    # queued while the previous forward pass ran: no delay when idle, full batches under load. Measured
    # (benchmarks/inference.py): 5 ms cut single-client throughput to a quarter and did not raise it at 32.
    max_wait_ms: float = 0.0
    max_rows: int = 1000  # INFERENCE_MAX_ROWS: rows per request (more: 413)
    max_body_bytes: int = 1024 * 1024  # INFERENCE_MAX_BODY_BYTES (more: 413)
    reload_s: float = 30.0  # INFERENCE_RELOAD_S: how often the registry is asked for a newer version
    threads: int | None = None  # INFERENCE_THREADS: torch threads (default: the CPUs this container may use)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        env = os.environ if environ is None else environ
        missing = [name for name in ("MODEL_NAME", "ENV") if not env.get(name)]
        if missing:
            raise SettingsError(f"the inference service needs {' and '.join(missing)}")

        def number(name: str, kind: type, default):
            raw = env.get(name)
            if raw in (None, ""):
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
            if value < 0 or (kind is int and value == 0 and name != "INFERENCE_THREADS"):
                raise SettingsError(f"{name}: must be positive, got {raw!r}")
            return value

        return cls(
            model_name=env["MODEL_NAME"],
            env=env["ENV"],
            batching=env.get("INFERENCE_BATCHING", "on").lower() not in {"off", "false", "0", "no"},
            max_batch_size=number("INFERENCE_MAX_BATCH_SIZE", int, 32),
            max_wait_ms=number("INFERENCE_MAX_WAIT_MS", float, 0.0),
            max_rows=number("INFERENCE_MAX_ROWS", int, 1000),
            max_body_bytes=number("INFERENCE_MAX_BODY_BYTES", int, 1024 * 1024),
            reload_s=number("INFERENCE_RELOAD_S", float, 30.0),
            threads=number("INFERENCE_THREADS", int, None),
        )
