"""The publisher's overload policy, with no broker at all (a closed local port)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from detectors.errors import PublisherError
from detectors.publisher import KafkaPublisher, PublisherOptions
from kuzet.broker import free_port


def _dropped(topic: str) -> float:
    value = REGISTRY.get_sample_value("kuzet_detector_records_dropped_total", {"topic": topic})
    return value or 0.0


def test_full_queue_drops_the_oldest_and_counts_it() -> None:
    topic = "kuzet.test.overload"
    before = _dropped(topic)
    options = PublisherOptions(max_queue=5, request_timeout_ms=300, max_backoff_s=0.2)
    publisher = KafkaPublisher(f"127.0.0.1:{free_port()}", options).start()
    for i in range(12):  # never blocks, although nothing can be delivered
        publisher.submit(topic, b"k", str(i).encode())
    assert publisher.dropped >= 7
    assert _dropped(topic) - before == publisher.dropped
    assert publisher.pending <= 5
    with pytest.raises(PublisherError, match=r"not delivered to 127\.0\.0\.1:\d+ within 0s"):
        publisher.close(timeout=0.3)
    with pytest.raises(PublisherError, match="closed"):
        publisher.submit(topic, b"k", b"late")
