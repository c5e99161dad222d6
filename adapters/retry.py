"""What to do after one delivery attempt, and how long to wait before the next: pure rules.

Transient failures (connection errors, timeouts, 408, 429, 5xx) are retried with exponential
backoff, capped, with "equal jitter" (half the step fixed, half random) so that many adapters
recovering from one outage do not retry in lockstep yet still back off. Any other non-2xx
answer is the receiver refusing this event: retrying would only repeat the refusal, so the event
is parked at once. A `Retry-After` (seconds) from the receiver raises the wait, within the cap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

__all__ = ["RetryPolicy", "Verdict", "classify", "retry_after_s"]

RETRYABLE_4XX = frozenset({408, 429})


class Verdict(str, Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PARK = "park"


def classify(status: int) -> Verdict:
    """2xx delivered; 408, 429 and 5xx retried; anything else (4xx, 3xx, 1xx) parked."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in RETRYABLE_4XX or status >= 500:
        return Verdict.RETRY
    return Verdict.PARK


def retry_after_s(value: str | None) -> float | None:
    """A `Retry-After` given in seconds (HTTP dates are rare for webhooks and ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_s: float = 0.5
    cap_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_s < 0 or self.cap_s < self.base_s:
            raise ValueError(f"retry policy {self}: need max_attempts >= 1, 0 <= base <= cap")

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        step = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
        wait = step / 2 + rng.uniform(0, step / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap_s))
        return wait
