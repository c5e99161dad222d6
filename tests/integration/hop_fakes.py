"""What aiokafka hands a hop, and the producer boundary, for tests of the hops' own logic.

`Msg` and `TP` have the fields the hops read from aiokafka's `ConsumerRecord` and
`TopicPartition`; `Dlq.send` stands where the worker's producer would send a dead letter and
keeps it. A stand-in by choice, not necessity: these tests drive `RouteHop`/`CorrelateHop`
batch by batch against a real store; the broker tiers (tests/integration/test_streams.py,
tests/chaos, tests/cluster) run the same hops on real brokers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from domain.topics import DETECTIONS_DLQ


@dataclass
class Msg:
    key: bytes | None
    value: bytes
    offset: int


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


class Dlq:
    """The producer boundary: what a hop sends to the DLQ topic."""

    def __init__(self) -> None:
        self.letters: list[dict[str, Any]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes):  # type: ignore[no-untyped-def]
        assert topic == DETECTIONS_DLQ
        self.letters.append(json.loads(value))

        async def acked() -> None:
            return None

        return acked()
