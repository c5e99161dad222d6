"""The webhook adapter against a real, misbehaving HTTP receiver and the real broker.

The feed is real: incidents in an event store, relayed by the relay onto a police topic, plus
a poison note the receiver refuses and one record that is no CloudEvent. Checked on SQLite and
PostgreSQL state: every event reaches the receiver exactly once after idempotency, poison is
parked without blocking the rest, receipts match the receiver's bodies, signatures verify, the
checkpoints reach the end of every partition, and regeneration reproduces the same bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from adapters.delivery import Sender
from adapters.envelope import sha256
from adapters.errors import ParkedNotFound
from adapters.feed import Feed, read_all
from adapters.regenerate import regenerate
from adapters.retry import RetryPolicy, Verdict
from adapters.signing import Signer
from adapters.state import AdapterState
from adapters.webhook import WebhookAdapter, drop_parked
from kuzet.broker import EmbeddedBroker
from kuzet.commands.adapter import MAX_TIME, MIN_TIME
from tests.integration.adapters.conftest import GARBAGE, await_until, police_feed
from tests.integration.adapters.receiver import Chaos, ChaosReceiver

pytestmark = pytest.mark.broker

FAST = RetryPolicy(max_attempts=40, base_s=0.002, cap_s=0.02)


async def _deliver_all(adapter: WebhookAdapter, bootstrap: str, topic: str,
                       done: Callable[[], Awaitable[bool]]) -> None:
    """Run the adapter until `done()` holds, then stop it the way SIGTERM does."""
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(Feed(bootstrap, topic), stop))

    async def finished() -> bool:
        return task.done() or await done()
    try:
        await await_until(finished, "the feed to be worked off")
    finally:
        stop.set()
        await task


async def test_every_event_arrives_once_poison_is_parked_receipts_match(
        broker: EmbeddedBroker, tmp_path: Path, signer: Signer, state: AdapterState) -> None:
    feed = await police_feed(broker.bootstrap_servers, tmp_path, incidents=25)
    chaos = Chaos(p_500=0.15, p_429=0.05, p_drop=0.1, p_store_drop=0.1, p_stall=0.05,
                  stall_s=0.5)
    receiver = ChaosReceiver(signer.public_key, chaos, seed=11).start()
    adapter = WebhookAdapter("police", state, Sender(receiver.url, signer, FAST, timeout_s=0.25))

    async def done() -> bool:  # every event receipted or parked
        receipted = await state.receipts("police", MIN_TIME, MAX_TIME)
        return len(receipted) + len(await state.parked("police")) == len(feed.deliverable) + 2
    try:
        await _deliver_all(adapter, broker.bootstrap_servers, feed.topic, done)
    finally:
        await adapter.sender.close()
        receiver.stop()

    unique = receiver.unique()
    assert set(unique) == feed.deliverable  # every event, nothing else (the poison never stored)
    assert receiver.outcomes["bad_signature"] == 0
    assert min(receiver.outcomes[o] for o in ("500", "429", "drop", "store_drop", "stall")) > 0
    assert len(receiver.stored) > len(unique)  # duplicates happened and were dropped by key

    receipts = await state.receipts("police", MIN_TIME, MAX_TIME)
    assert {r.event_id: r.sha256 for r in receipts} == {k: sha256(b) for k, b in unique.items()}
    assert all(r.http_status == 200 and r.url == receiver.url for r in receipts)
    assert max(r.attempts for r in receipts) > 1

    parked = {p.event_id: p for p in await state.parked("police")}
    [garbage] = [p for p in parked.values() if p.value == GARBAGE]
    assert set(parked) == {feed.poison, f"{feed.topic}:{garbage.partition}:{garbage.offset}"}
    assert garbage.reason.startswith("not a CloudEvents envelope") and garbage.attempts == 0
    # parked on its first answer, a 400 (that 4xx is never retried: tests/unit/adapters);
    # attempts that timed out before any answer (0.25 s, tight on a loaded machine) count too
    assert parked[feed.poison].http_status == 400 and parked[feed.poison].attempts >= 1
    assert "we cannot read this" in parked[feed.poison].reason

    records = await read_all(broker.bootstrap_servers, feed.topic)
    ends: dict[int, int] = {}
    for r in records:
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    assert await state.checkpoints("police", feed.topic) == ends
    assert {r.value for r in records} >= set(unique.values())  # bodies are the records' bytes

    again = regenerate(records, receipts, MIN_TIME, MAX_TIME)
    assert again.consistent
    assert {i.event_id: i.status for i in again.items} == {
        **dict.fromkeys(feed.deliverable, "match"), feed.poison: "not delivered"}
    assert {sha256(line) for line in again.jsonl().splitlines()} >= {r.sha256 for r in receipts}


async def test_an_endpoint_that_keeps_failing_parks_everything_then_retry_delivers(
        broker: EmbeddedBroker, tmp_path: Path, signer: Signer, state: AdapterState) -> None:
    feed = await police_feed(broker.bootstrap_servers, tmp_path, incidents=3)
    everything = feed.deliverable | {feed.poison}
    down = ChaosReceiver(signer.public_key, Chaos(p_500=1.0)).start()
    policy = RetryPolicy(max_attempts=3, base_s=0.001, cap_s=0.005)
    adapter = WebhookAdapter("police", state, Sender(down.url, signer, policy, timeout_s=1))

    async def all_parked() -> bool:
        return len(await state.parked("police")) == len(everything) + 1  # + the garbage
    try:
        await _deliver_all(adapter, broker.bootstrap_servers, feed.topic, all_parked)
    finally:
        await adapter.sender.close()
        down.stop()
    parked = {p.event_id: p for p in await state.parked("police")}
    assert down.outcomes["500"] == 3 * len(feed.deliverable) and not down.stored
    assert down.outcomes["poison"] == 1  # a refusal is parked at once, not retried
    assert all(parked[e].attempts == 3 and parked[e].reason.startswith(
        "gave up after 3 attempts; last: HTTP 500") for e in feed.deliverable)

    up = ChaosReceiver(signer.public_key).start()
    healthy = WebhookAdapter("police", state, Sender(up.url, signer, policy, timeout_s=1))
    try:
        results = await healthy.retry_parked()
        one = await healthy.retry_parked(feed.poison)
        with pytest.raises(ParkedNotFound, match="no parked event 'nope'"):
            await healthy.retry_parked("nope")
    finally:
        await healthy.sender.close()
        up.stop()
    assert {e for e, v in results.items() if v is Verdict.DELIVERED} == feed.deliverable
    assert results[feed.poison] is Verdict.PARK and one == {feed.poison: Verdict.PARK}
    assert set(up.unique()) == feed.deliverable
    left = {p.event_id: p for p in await state.parked("police")}
    assert len(left) == 2 and left[feed.poison].attempts == 3  # 1 + two refused retries
    receipts = await state.receipts("police", MIN_TIME, MAX_TIME)
    assert {r.event_id for r in receipts} == feed.deliverable
    assert sorted(await drop_parked(state, "police")) == sorted(left)
    assert await state.parked("police") == []


async def test_a_relay_resend_is_not_posted_again(
        broker: EmbeddedBroker, tmp_path: Path, signer: Signer, state: AdapterState) -> None:
    feed = await police_feed(broker.bootstrap_servers, tmp_path, incidents=2)
    first = await read_all(broker.bootstrap_servers, feed.topic)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:  # the relay crashed after publishing and sent the batch again: same ids, same bytes
        for record in first:
            await producer.send_and_wait(feed.topic, record.value, partition=record.partition)
    finally:
        await producer.stop()
    receiver = ChaosReceiver(signer.public_key).start()
    adapter = WebhookAdapter("police", state, Sender(receiver.url, signer, FAST, timeout_s=1))

    async def at_the_end() -> bool:
        ends = {r.partition: r.offset + 1 for r in first}
        marks = await state.checkpoints("police", feed.topic)
        return all(marks.get(p, 0) >= 2 * end for p, end in ends.items())
    try:
        await _deliver_all(adapter, broker.bootstrap_servers, feed.topic, at_the_end)
    finally:
        await adapter.sender.close()
        receiver.stop()
    assert sorted(r.key for r in receiver.stored) == sorted(feed.deliverable)  # each once
