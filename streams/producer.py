"""Kuzet's producers: `acks=all`, and idempotent wherever the broker grants producer ids.

An idempotent producer numbers its batches, so a batch it resends after a lost answer (a
broker killed mid-request, a leader moving) is written once, not twice. Apache Kafka grants
the producer id (`InitProducerId`) idempotence needs; the embedded Tansu broker refuses it,
so against it the producer starts again without idempotence (one INFO line says so) and a
resend may duplicate a record: the consumers de-duplicate (detection ids, CloudEvents ids).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

__all__ = ["start_producer"]

log = logging.getLogger("kuzet.streams.producer")


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """aiokafka logs a refused InitProducerId at ERROR; here it is the probe's expected answer
    (said once at INFO below), not an error an operator should chase."""
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def start_producer(bootstrap_servers: str, **options: Any) -> AIOKafkaProducer:
    """A started aiokafka producer with `acks=all` and `options`, idempotent if the broker
    allows it. Connection errors propagate (the caller's to handle, as for a plain start)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all",
                                enable_idempotence=True, **options)
    try:
        with _quiet(logging.getLogger("aiokafka.producer.sender")):  # the refusal is expected
            await producer.start()
        return producer
    except KafkaConnectionError:
        with contextlib.suppress(Exception):
            await producer.stop()
        raise
    except KafkaError as exc:  # InitProducerId refused: a broker without producer ids
        with contextlib.suppress(Exception):
            await producer.stop()
        log.info("the broker grants no producer ids (%s): producing without idempotence",
                 type(exc).__name__)
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", **options)
    await plain.start()
    return plain
