"""A local stack for end-to-end tests: the embedded broker, settings for a fresh data folder,
`kuzet` processes started through `LocalStack`, and waits on real signals (a process's
`/readyz`, the store) that fail early when a process dies."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kuzet.broker import EmbeddedBroker, free_port
from kuzet.kafka import topic_partitions
from kuzet.settings import load_settings
from kuzet.stack import LocalStack

__all__ = ["drained", "local_stack", "ready", "start_worker", "wait_for"]


@contextmanager
def local_stack(tmp_path: Path, **settings: Any) -> Iterator[LocalStack]:
    """A stack on its own broker and data folder; fast evidence flushes and timers."""
    with EmbeddedBroker(free_port(), tmp_path / "broker.log") as broker:
        values = {"data_dir": str(tmp_path / "data"), "kafka_url": broker.bootstrap_servers,
                  "consumer_group": f"g-{uuid.uuid4().hex[:8]}", "evidence_interval_s": 0.5,
                  "tick_interval_s": 0.5, **settings}
        with LocalStack(load_settings(environ={}, **values)) as running:
            yield running


def wait_for(stack: LocalStack, done: Callable[[], bool], what: str, *,
             timeout_s: float = 90, between: Callable[[], None] | None = None) -> None:
    """Polls `done()` (calling `between()` first each time) until it holds; fails naming
    `what`, or at once when one of the stack's processes exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if between is not None:
            between()
        if done():
            return
        for name, proc in stack.procs.items():
            assert proc.poll() is None, f"{name} exited with {proc.returncode}"
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def ready(stack: LocalStack, name: str) -> bool:
    """Whether process `name` answers 200 on `/readyz`."""
    try:
        return httpx.get(stack.health_url(name, "/readyz"), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_worker(stack: LocalStack, name: str = "worker-0") -> None:
    """`kuzet worker`, returning once it is ready (consumers joined)."""
    stack.spawn(name, ["worker"])
    wait_for(stack, lambda: ready(stack, name), f"{name}'s /readyz")


async def _settled(bootstrap: str, group: str, topic: str) -> bool:
    """Whether `group` committed past every record readable in `topic`.

    Each partition is read from the group's committed offset (one short fetch): a record
    there is pending. The end compared with is the larger of the "latest" offset and the
    high watermark the fetch returned, because the embedded broker's "latest" can be the last
    batch's base offset + 1, short of records still pending (as in `kuzet.kafka.read_topic`).
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=100, request_timeout_ms=5000)
    try:
        await admin.start()
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in await topic_partitions(bootstrap, topic)]
        if not tps:
            return False
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        at = {tp: max(committed[tp].offset, 0) if tp in committed else 0 for tp in tps}
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, at[tp])
        deadline = time.monotonic() + 5
        while any(consumer.highwater(tp) is None for tp in tps):  # until each was fetched
            if any((await consumer.getmany(timeout_ms=200)).values()):
                return False  # a record at or after the committed offset: still pending
            if time.monotonic() > deadline:
                return False
        ends = await consumer.end_offsets(tps)
        return all(at[tp] >= max(ends[tp], consumer.highwater(tp) or 0) for tp in tps)
    except Exception:  # a broker in flux answers later: the caller polls
        return False
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await admin.close()


def drained(bootstrap: str, group: str) -> bool:
    """Both hops of the worker group `group` committed up to the end of their topics: every
    record published so far was routed, and every correlated record is durable in the store
    (the correlate hop commits an offset only once the store settled everything before it).
    Compared with the records actually readable, not only the broker's "latest" offsets
    (`_settled`); one short fetch per partition a call."""
    from domain.topics import CORRELATION, DETECTIONS

    return (asyncio.run(_settled(bootstrap, f"{group}.route", DETECTIONS))
            and asyncio.run(_settled(bootstrap, f"{group}.correlate", CORRELATION)))
