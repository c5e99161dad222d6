"""The Kafka publisher: a bounded queue in front of an aiokafka producer on its own thread.

Frame capture and inference never wait for Kafka: `publish_*` only appends to a bounded queue.
Overload policy: when the queue is full the *oldest* record is dropped (fresh evidence matters
more than stale), counted per topic in `kuzet_detector_records_dropped_total` and in
`dropped`. A sender task on a private event loop takes batches off the queue and sends them
with batching (`linger_ms`, `max_batch_size`) and gzip compression (no native codec needed).
If the broker is lost, the unacknowledged batch goes back to the head of the queue, the
producer is rebuilt with exponential backoff, and sending resumes: nothing queued is lost.
Delivery is at-least-once (Tansu has no idempotent producer); `detection_id` is the key
consumers de-duplicate on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from detectors.errors import PublisherError
from detectors.metrics import PUBLISH_QUEUE, RECORDS_DROPPED, RECORDS_SENT
from domain.detection import Detection, encode_detection
from domain.health import HealthRecord, encode_health
from domain.topics import DETECTIONS, HEALTH

__all__ = ["KafkaPublisher", "PublisherOptions"]

log = logging.getLogger(__name__)
_Record = tuple[str, bytes, bytes]


@dataclass(frozen=True, slots=True)
class PublisherOptions:
    max_queue: int = 10_000
    linger_ms: int = 20
    max_batch_bytes: int = 256 * 1024
    batch_records: int = 500
    compression: str = "gzip"
    request_timeout_ms: int = 5000
    max_backoff_s: float = 5.0
    detections_topic: str = DETECTIONS
    health_topic: str = HEALTH
    client_id: str = "kuzet-detector"
    client_options: Mapping[str, Any] = field(default_factory=dict)
    """aiokafka security options (security_protocol, ssl_context, sasl_*): see
    docs/deployment.md."""


class KafkaPublisher:
    """Thread-safe, non-blocking publisher of detection and health records."""

    def __init__(self, bootstrap: str, options: PublisherOptions | None = None) -> None:
        self.bootstrap = bootstrap
        self.options = options or PublisherOptions()
        self._queue: deque[_Record] = deque()
        self._lock = threading.Lock()
        self._inflight = 0
        self._closing = False
        self._closed = False
        self.dropped = 0
        self.sent = 0
        self._loop = asyncio.new_event_loop()
        self._wake: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="kuzet-publisher", daemon=True)

    def start(self) -> KafkaPublisher:
        self._thread.start()
        return self

    # --- producer side (any thread) ------------------------------------------------------
    def publish_detection(self, detection: Detection) -> None:
        self.submit(self.options.detections_topic, detection.source_id.encode(),
                    encode_detection(detection))

    def publish_health(self, record: HealthRecord) -> None:
        self.submit(self.options.health_topic, record.source_id.encode(), encode_health(record))

    def submit(self, topic: str, key: bytes, value: bytes) -> None:
        """Queue one record; never blocks. Drops (and counts) the oldest when full."""
        if self._closed:
            raise PublisherError("publisher is closed")
        with self._lock:
            self._queue.append((topic, key, value))
            self._trim()
        self._poke()

    def _trim(self) -> None:
        while len(self._queue) > self.options.max_queue:
            topic, _, _ = self._queue.popleft()
            self.dropped += 1
            RECORDS_DROPPED.labels(topic=topic).inc()
        PUBLISH_QUEUE.set(len(self._queue))

    def _poke(self) -> None:
        if self._wake is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.set)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + self._inflight

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued record is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.pending

    def close(self, timeout: float = 30.0) -> None:
        """Flush what is queued (up to `timeout`), then stop the producer and the thread."""
        if self._closed:
            return
        flushed = self.flush(timeout)
        self._closing, self._closed = True, True
        self._poke()
        self._thread.join(timeout=10)
        if not flushed:
            raise PublisherError(f"{self.pending} record(s) not delivered to "
                                 f"{self.bootstrap} within {timeout:.0f}s")

    # --- sender (publisher thread) -------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._send_forever())
        finally:
            self._loop.close()

    def _take(self) -> list[_Record]:
        with self._lock:
            n = min(len(self._queue), self.options.batch_records)
            batch = [self._queue.popleft() for _ in range(n)]
            self._inflight = n
            PUBLISH_QUEUE.set(len(self._queue))
        return batch

    def _give_back(self, batch: list[_Record]) -> None:
        with self._lock:
            self._queue.extendleft(reversed(batch))
            self._inflight = 0
            self._trim()

    def _producer(self) -> AIOKafkaProducer:
        o = self.options
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, client_id=o.client_id, acks="all",
            linger_ms=o.linger_ms, max_batch_size=o.max_batch_bytes,
            compression_type=o.compression, request_timeout_ms=o.request_timeout_ms,
            retry_backoff_ms=200, enable_idempotence=False, **o.client_options,
        )

    async def _send_forever(self) -> None:
        self._wake = asyncio.Event()
        producer: AIOKafkaProducer | None = None
        backoff = 0.2
        while not self._closing:  # `close` sets it after flushing (or giving up on) the queue
            if not self._queue:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                continue
            if producer is None:
                producer = await self._connect()
            if producer is not None and await self._send_batch(producer):
                backoff = 0.2
                continue
            if producer is not None:  # the send failed: rebuild the producer after the backoff
                await self._stop(producer)
                producer = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.options.max_backoff_s)
        if producer is not None:
            await self._stop(producer)

    async def _connect(self) -> AIOKafkaProducer | None:
        producer = self._producer()
        try:
            await asyncio.wait_for(producer.start(), self.options.request_timeout_ms / 1000 + 2)
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning("publisher: broker %s unreachable (%s); retrying", self.bootstrap, exc)
            await self._stop(producer)
            return None
        return producer

    async def _send_batch(self, producer: AIOKafkaProducer) -> bool:
        batch = self._take()
        limit = self.options.request_timeout_ms / 1000 * 2
        try:
            futures = [await producer.send(t, v, key=k) for t, k, v in batch]
            await asyncio.wait_for(asyncio.gather(*futures), limit)
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning("publisher: send failed (%s); %d record(s) requeued", exc, len(batch))
            self._give_back(batch)
            return False
        with self._lock:
            self._inflight = 0
            self.sent += len(batch)
        for topic, _, _ in batch:
            RECORDS_SENT.labels(topic=topic).inc()
        return True

    @staticmethod
    async def _stop(producer: AIOKafkaProducer) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 5)
