"""The workers on the 3-broker Kafka cluster and PostgreSQL: the pipeline, DLQ, redelivery,
two workers with a kill -9, a broker SIGKILLed mid-stream, a rebalance with deaths and joins.

Workers are real `kuzet worker` subprocesses (as in tests/integration/test_streams.py, whose
reference and evidence helpers these tests reuse); "done" is the group's committed offsets at
the end of both topics (`drained`, tests/integration/stack_helpers.py), never a sleep.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
from kuzet.demo import count_topic
from kuzet.scenario import EXPECTED, EXPECTED_DLQ, demo_records
from kuzet.stack import LocalStack
from tests.cluster.conftest import cluster_settings
from tests.cluster.kafka_cluster import KafkaCluster
from tests.integration.stack_helpers import drained
from tests.integration.test_streams import (
    _evidence,
    _load,
    _no_duplicate_evidence_events,
    _publish,
    _reference,
    _wait,
)

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.slow]


def _settled(stack: LocalStack) -> None:
    _wait(lambda: drained(stack.bootstrap, stack.settings.consumer_group),
          "the workers' commits at the end of both topics", stack.procs)


def test_pipeline_dlq_and_redelivery_on_the_cluster(cluster_stack: LocalStack,
                                                    tmp_path: Path) -> None:
    stack = cluster_stack
    stack.spawn("worker-0", ["worker"])
    records = demo_records(datetime.now(UTC))
    path = tmp_path / "scenario.jsonl"
    path.write_bytes(b"\n".join(value for _, value in records) + b"\n")
    env = {**os.environ, "KUZET_KAFKA_URL": stack.bootstrap}
    cli = [sys.executable, "-m", "kuzet", "publish", str(path)]
    subprocess.run(cli, env=env, check=True, capture_output=True, timeout=60)
    _wait(lambda: set(_evidence(stack.settings)) == set(EXPECTED), "the scenario's incidents",
          stack.procs)
    _settled(stack)
    dlq = lambda: asyncio.run(count_topic(stack.bootstrap, DETECTIONS_DLQ))  # noqa: E731
    assert dlq() == EXPECTED_DLQ
    before = _evidence(stack.settings)
    subprocess.run(cli, env=env, check=True, capture_output=True, timeout=60)  # redelivery
    _wait(lambda: dlq() == 2 * EXPECTED_DLQ, "the second pass through the router", stack.procs)
    _settled(stack)
    assert _evidence(stack.settings) == before
    assert _no_duplicate_evidence_events(stack.settings)


def test_two_workers_and_a_kill_9_on_the_cluster(cluster_stack: LocalStack) -> None:
    stack = cluster_stack
    now = datetime.now(UTC)
    records = _load(24, 20, now)
    expected = asyncio.run(_reference(records, now))
    a, _ = stack.spawn("worker-a", ["worker"]), stack.spawn("worker-b", ["worker"])
    third = len(records) // 3
    _publish(stack, records[:third])
    _wait(lambda: len(_evidence(stack.settings)) > 0, "the first incidents", stack.procs)
    a.send_signal(signal.SIGKILL)
    a.wait()
    _publish(stack, records[third:2 * third])
    stack.spawn("worker-a2", ["worker"])
    _publish(stack, records[2 * third:] + records[:third])  # and a redelivered batch
    _wait(lambda: _evidence(stack.settings) == expected, "the reference incidents", stack.procs)
    _settled(stack)
    assert _evidence(stack.settings) == expected
    assert _no_duplicate_evidence_events(stack.settings)


def _leaders_avoid(cluster: KafkaCluster, node_id: int) -> bool:
    try:
        return all(leader not in (-1, node_id)
                   for topic in (DETECTIONS, CORRELATION)
                   for leader in cluster.leaders(topic).values())
    except Exception:  # a broker in flux answers later: the caller polls
        return False


def test_sigkill_of_a_partition_leader_mid_stream_loses_and_duplicates_nothing(
        cluster: KafkaCluster, postgres_url: str, tmp_path: Path) -> None:
    """SIGKILL the broker leading detections partition 0 while records flow, wait for the
    election, restart it: the incidents and their evidence equal the reference, each
    detection recorded once. Prints how long the election and the recovery took."""
    with LocalStack(cluster_settings(cluster, postgres_url, tmp_path)) as stack:
        now = datetime.now(UTC)
        records = _load(24, 20, now)
        expected = asyncio.run(_reference(records, now))
        stack.spawn("worker-a", ["worker"])
        stack.spawn("worker-b", ["worker"])
        third = len(records) // 3
        _publish(stack, records[:third])
        _wait(lambda: len(_evidence(stack.settings)) > 0, "the first incidents", stack.procs)
        victim = cluster.leaders(DETECTIONS)[0]
        killed_at = time.monotonic()
        cluster.kill(victim)
        _publish(stack, records[third:2 * third])  # acks=all: acknowledged by 2 replicas
        _wait(lambda: _leaders_avoid(cluster, victim), "new leaders", stack.procs)
        elected = time.monotonic() - killed_at
        _wait(lambda: _evidence(stack.settings) == asyncio.run(
            _reference(records[:2 * third], now)), "the records sent during the outage",
            stack.procs)
        recovered = time.monotonic() - killed_at
        cluster.restart(victim)
        cluster.wait_brokers(3)
        _publish(stack, records[2 * third:] + records[:third])  # and a redelivered batch
        _wait(lambda: _evidence(stack.settings) == expected, "the reference incidents",
              stack.procs)
        _settled(stack)
        assert _evidence(stack.settings) == expected
        assert _no_duplicate_evidence_events(stack.settings)
        print(f"\nbroker {victim} SIGKILLed mid-stream: leaders moved in {elected:.1f} s; "
              f"records sent during the outage durable as incidents {recovered:.1f} s "
              f"after the kill; lost 0, duplicated 0 "
              f"({len(records)} detections, {len(expected)} incidents)")


async def _members(bootstrap: str, group: str) -> tuple[str, frozenset[str]]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
        [(_, _, state, _, _, members, *_)] = response.groups
        return str(state), frozenset(str(m[0]) for m in members)
    finally:
        await admin.close()


def _stable_members(stack: LocalStack) -> frozenset[str]:
    """The correlate group's member ids once it is stable (empty while it rebalances)."""
    group = f"{stack.settings.consumer_group}.correlate"
    try:
        state, members = asyncio.run(_members(stack.bootstrap, group))
    except Exception:  # a group in flux answers later: the caller polls
        return frozenset()
    return members if state == "Stable" else frozenset()


def test_rebalance_of_3_workers_on_12_partitions_with_a_death_and_a_join(
        cluster: KafkaCluster, postgres_url: str, tmp_path: Path) -> None:
    """Three workers share 12 partitions; one is SIGKILLed mid-stream and a new one joins:
    the group settles on 3 members again, nothing is lost or recorded twice. Prints how long
    the group took from the kill to a stable 3-member assignment."""
    settings = cluster_settings(cluster, postgres_url, tmp_path, kafka_partitions=12)
    with LocalStack(settings) as stack:
        now = datetime.now(UTC)
        records = _load(48, 10, now)
        expected = asyncio.run(_reference(records, now))
        workers = [stack.spawn(f"worker-{n}", ["worker"]) for n in range(3)]
        _wait(lambda: len(_stable_members(stack)) == 3, "3 workers sharing the partitions",
              stack.procs)
        first = _stable_members(stack)
        third = len(records) // 3
        _publish(stack, records[:third])
        _wait(lambda: len(_evidence(stack.settings)) > 0, "the first incidents", stack.procs)
        killed_at = time.monotonic()
        workers[1].send_signal(signal.SIGKILL)
        workers[1].wait()
        _publish(stack, records[third:2 * third])
        stack.spawn("worker-3", ["worker"])
        _publish(stack, records[2 * third:] + records[:third])  # and a redelivered batch
        after = lambda: _stable_members(stack)  # noqa: E731
        _wait(lambda: len(after()) == 3 and len(after() & first) == 2,
              "the group without the dead worker and with the new one", stack.procs)
        settled_in = time.monotonic() - killed_at
        _wait(lambda: _evidence(stack.settings) == expected, "the reference incidents",
              stack.procs)
        _settled(stack)
        assert _evidence(stack.settings) == expected
        assert _no_duplicate_evidence_events(stack.settings)
        print(f"\n3 workers on 12 partitions, one SIGKILLed and one joined: group stable "
              f"with 3 members {settled_in:.1f} s after the kill; lost 0, duplicated 0 "
              f"({len(records)} detections, {len(expected)} incidents)")
