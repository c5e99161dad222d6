"""The log's JSON-safe fields and the relay's partitioner: pure, milliseconds."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from enum import Enum
from types import MappingProxyType
from uuid import UUID

from aiokafka.partitioner import DefaultPartitioner

from domain.log import json_safe
from streams.relay import keyed_partition


class Colour(str, Enum):
    RED = "red"


def test_json_safe_converts_nested_values_and_keeps_plain_ones() -> None:
    when, uid = datetime(2026, 11, 26, 12, tzinfo=UTC), UUID(int=1)
    value = {"at": when, "ids": (uid, "x"), "tags": frozenset({Colour.RED}),
             "day": date(2026, 11, 26), "plain": ["a", 1, 1.5, True, None],
             "nested": MappingProxyType({"k": [when, {"u": uid}]})}
    assert json_safe(value) == {
        "at": "2026-11-26T12:00:00+00:00", "ids": [str(uid), "x"], "tags": ["red"],
        "day": "2026-11-26", "plain": ["a", 1, 1.5, True, None],
        "nested": {"k": ["2026-11-26T12:00:00+00:00", {"u": str(uid)}]}}


def test_json_safe_turns_an_enum_on_str_into_its_plain_value() -> None:
    assert type(json_safe(Colour.RED)) is str
    assert type(json_safe([Colour.RED])[0]) is str


def test_keyed_partition_is_aiokafkas_default_partitioner() -> None:
    rng = random.Random(5)
    for _ in range(300):
        key = rng.randbytes(rng.randint(0, 40))
        parts = list(range(rng.randint(1, 12)))
        assert keyed_partition(key, parts, parts) == DefaultPartitioner()(key, parts, parts)
