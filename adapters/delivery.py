"""One event to one webhook: signed POSTs, retried with backoff until delivered or parked.

Every attempt carries `Idempotency-Key` (the CloudEvents id: the same on every retry, every
redelivery after a crash and every relay re-send), the Ed25519 signature headers over the body
and a fresh timestamp, and `Content-Type: application/cloudevents+json` (CloudEvents HTTP
binding, structured mode: the body is the envelope).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from adapters.retry import RetryPolicy, Verdict, classify, retry_after_s
from adapters.signing import Signer

__all__ = ["CONTENT_TYPE", "IDEMPOTENCY_KEY", "Attempted", "Sender", "Stopped"]

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
IDEMPOTENCY_KEY = "Idempotency-Key"
_REASON_CHARS = 300


class Stopped(Exception):
    """The adapter was told to stop while waiting to retry: nothing is committed."""


@dataclass(frozen=True, slots=True)
class Attempted:
    """How delivering one event ended: `verdict` is DELIVERED or PARK, never RETRY."""

    verdict: Verdict
    http_status: int | None
    attempts: int
    reason: str


class Sender:
    """Delivers bodies to `url` through one pooled `httpx.AsyncClient`."""

    def __init__(self, url: str, signer: Signer, policy: RetryPolicy, timeout_s: float, *,
                 rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.signer = signer
        self.policy = policy
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._clock = clock
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s),
                                         headers={"User-Agent": "kuzet-adapter/1"})

    async def close(self) -> None:
        await self._client.aclose()

    def headers(self, event_id: str, body: bytes) -> dict[str, str]:
        return {"Content-Type": CONTENT_TYPE, IDEMPOTENCY_KEY: event_id,
                **self.signer.headers(body, int(self._clock()))}

    async def attempt(self, event_id: str, body: bytes) -> tuple[Verdict, int | None, str,
                                                                  float | None]:
        """One POST: its verdict, HTTP status (None: no answer), reason and Retry-After."""
        try:
            response = await self._client.post(self.url, content=body,
                                               headers=self.headers(event_id, body))
        except httpx.TransportError as exc:  # connect/read/write errors and timeouts
            return Verdict.RETRY, None, f"{type(exc).__name__}: {exc}"[:_REASON_CHARS], None
        status = response.status_code
        reason = f"HTTP {status}: {response.text}"[:_REASON_CHARS]
        return classify(status), status, reason, retry_after_s(response.headers.get("Retry-After"))

    async def deliver(self, event_id: str, body: bytes, stop: asyncio.Event) -> Attempted:
        """Attempt until delivered, refused (4xx) or out of attempts; `Stopped` on `stop`."""
        for attempt in range(1, self.policy.max_attempts + 1):
            verdict, status, reason, after = await self.attempt(event_id, body)
            if verdict is not Verdict.RETRY:
                return Attempted(verdict, status, attempt, reason)
            if attempt == self.policy.max_attempts:
                break
            await _sleep(self.policy.delay(attempt, self._rng, after), stop)
        return Attempted(Verdict.PARK, status, self.policy.max_attempts,
                         f"gave up after {self.policy.max_attempts} attempts; last: {reason}")


async def _sleep(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    if stop.is_set():
        raise Stopped
