"""Each trigger's redelivery rules, read from the manifest's `retry` block, as the platform applies them.

Pub/Sub (push subscriptions): exponential backoff between the minimum and the maximum, then the
dead-letter topic after `max_attempts` deliveries. Eventarc's GCS triggers: the same backoff with no
count, until the event is 24 h old, then dropped. Lambda's asynchronous invocation (EventBridge): two
retries about a minute and two minutes apart, then the on-failure destination. Cloud Scheduler's HTTP
target: its own retry count and backoff, no dead letter.

`scale` shrinks every wait for a quick local loop (`mlops-events up --backoff-scale 0.05`); the counts
and the dead-lettering stay what the manifest says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import ConfigError

DAY_S = 86_400.0
# Pub/Sub keeps an unacknowledged message 7 days; Eventarc's GCS events are retried up to 24 h.
_DEFAULT_MAX_AGE_S = {"retry_on_failure": 7 * DAY_S, "scheduler": DAY_S, "lambda_async": 6 * 3600.0}
_LAMBDA_ASYNC_BACKOFF_S = (60.0, 120.0)  # Lambda's documented waits between async retries


@dataclass(frozen=True)
class RetryPolicy:
    policy: str  # retry_on_failure | scheduler | lambda_async | do_not_retry
    max_attempts: int | None  # deliveries in all; None: bounded by max_age_s only
    min_backoff_s: float
    max_backoff_s: float
    max_age_s: float
    scale: float = 1.0

    def backoff_s(self, failed_attempts: int) -> float:
        """The wait before the next delivery, after `failed_attempts` failures (1 for the first)."""
        if self.policy == "lambda_async":
            base = _LAMBDA_ASYNC_BACKOFF_S[min(failed_attempts, len(_LAMBDA_ASYNC_BACKOFF_S)) - 1]
        else:
            # A float power with a bounded exponent: an age-bounded retry (no count) may fail thousands of
            # times, and min * 2**n with a huge int n raises OverflowError instead of reaching the cap.
            base = min(self.max_backoff_s, self.min_backoff_s * 2.0 ** min(max(failed_attempts - 1, 0), 1000))
        return base * self.scale

    def gives_up(self, failed_attempts: int, age_s: float) -> bool:
        """Whether a delivery that failed `failed_attempts` times, `age_s` after it was first sent, stops here."""
        if self.policy == "do_not_retry":
            return True
        if self.max_attempts is not None and failed_attempts >= self.max_attempts:
            return True
        return age_s + self.backoff_s(failed_attempts) > self.max_age_s * self.scale


def retry_policy(retry: dict[str, Any], *, scale: float = 1.0) -> RetryPolicy:
    """The manifest's `retry` block as a policy; an unknown policy is a configuration error, not a guess."""
    if scale <= 0:
        raise ConfigError(f"backoff scale must be positive, got {scale}")
    policy = retry.get("policy", "retry_on_failure")
    if policy not in (*_DEFAULT_MAX_AGE_S, "do_not_retry"):
        raise ConfigError(f"unknown retry policy {policy!r}")
    max_age = retry.get("max_event_age_s")
    if max_age is None:
        max_age = DAY_S if retry.get("reconciled_by") else _DEFAULT_MAX_AGE_S.get(policy, DAY_S)
    attempts = retry.get("max_attempts")
    if policy == "retry_on_failure" and retry.get("dead_letter_topic"):
        # Pub/Sub's bounds on max_delivery_attempts (default 5), as Terraform clamps them
        attempts = 5 if attempts is None else min(100, max(5, int(attempts)))
    return RetryPolicy(
        policy=policy,
        max_attempts=int(attempts) if attempts is not None else None,
        min_backoff_s=float(retry.get("min_backoff_s", 10)),
        max_backoff_s=float(retry.get("max_backoff_s", 600)),
        max_age_s=float(max_age),
        scale=scale,
    )
