"""The Faust workers on the real broker and store: the pipeline, DLQ, redelivery, crash, scale-out.

Each test starts its own Tansu broker (milliseconds) so topic contents never leak between tests,
and runs workers as real `kuzet worker` subprocesses, killed with SIGKILL where a crash is meant.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.application import IncidentApp
from domain.detection import parse_detection
from domain.errors import InvalidDetection
from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.commands.core import publish_records
from kuzet.demo import count_topic
from kuzet.scenario import EXPECTED, EXPECTED_DLQ, demo_records
from kuzet.settings import Settings, load_settings
from kuzet.stack import LocalStack
from streams.engine import CorrelationEngine
from tests.helpers import default_rules, record
from tests.integration.stack_helpers import drained, topic_partitions

pytestmark = [pytest.mark.broker, pytest.mark.slow]
RULES = default_rules()
TIMEOUT = 120


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with EmbeddedBroker(free_port(), tmp_path / "broker.log") as broker:
        settings = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                                 kafka_url=broker.bootstrap_servers,
                                 consumer_group=f"g-{uuid.uuid4().hex[:8]}",
                                 evidence_interval_s=0.5, tick_interval_s=0.5)
        with LocalStack(settings) as running:
            yield running


def _evidence(settings: Settings) -> dict[str, frozenset[str]]:
    app = IncidentApp(settings.event_store_env(), RULES)
    try:
        return {i.incident_key: frozenset(i.evidence_ids) for i in app.incidents()}
    finally:
        app.close()


def _no_duplicate_evidence_events(settings: Settings) -> bool:
    app = IncidentApp(settings.event_store_env(), RULES)
    try:
        for incident in app.incidents():
            ids = [d for e in app.history(incident.id) for d in getattr(e, "detection_ids", [])]
            if len(ids) != len(set(ids)):
                return False
        return True
    finally:
        app.close()


def _wait(predicate, what: str, procs: dict) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if predicate():
            return
        for name, proc in procs.items():
            assert proc.poll() is None or proc.returncode == -signal.SIGKILL, f"{name} died"
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _publish(stack: LocalStack, records: list[tuple[bytes | None, bytes]]) -> None:
    asyncio.run(publish_records(stack.bootstrap, records, DETECTIONS))


async def _committed(bootstrap: str, group: str, topic: str) -> int:
    """Records of `topic` the consumer group `group` has committed (its topics start at 0)."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        tps = [TopicPartition(topic, p) for p in await topic_partitions(bootstrap, topic)]
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
        return sum(max(o.offset, 0) for o in offsets.values())
    except Exception:  # a broker in flux answers later: the caller polls
        return -1
    finally:
        await admin.close()


def _settled(stack: LocalStack, detections: int, correlations: int) -> bool:
    """Both hops committed exactly this many records (counted in the topics, not from the
    embedded broker's high watermark, which can fall short)."""
    group, bootstrap = stack.settings.consumer_group, stack.bootstrap
    return (asyncio.run(_committed(bootstrap, f"{group}.route", DETECTIONS)) == detections
            and asyncio.run(count_topic(bootstrap, CORRELATION)) == correlations
            and asyncio.run(_committed(bootstrap, f"{group}.correlate", CORRELATION))
            == correlations)


def test_pipeline_dlq_and_republishing_the_same_file(stack: LocalStack, tmp_path: Path) -> None:
    stack.spawn("worker-0", ["worker"])
    now = datetime.now(UTC)
    records = demo_records(now)
    expected = asyncio.run(_reference(_valid(records), now))
    assert set(expected) == set(EXPECTED)
    path = tmp_path / "scenario.jsonl"
    path.write_bytes(b"\n".join(value for _, value in records) + b"\n")
    env = {**os.environ, "KUZET_KAFKA_URL": stack.bootstrap}
    cli = [sys.executable, "-m", "kuzet", "publish", str(path)]
    subprocess.run(cli, env=env, check=True, capture_output=True, timeout=60)
    settings = stack.settings
    _wait(lambda: _evidence(settings) == expected, "the scenario's incidents and evidence",
          stack.procs)
    dlq = lambda: asyncio.run(count_topic(stack.bootstrap, DETECTIONS_DLQ))  # noqa: E731
    _wait(lambda: dlq() == EXPECTED_DLQ, "poison records in the DLQ", stack.procs)
    first = asyncio.run(count_topic(stack.bootstrap, CORRELATION))
    _wait(lambda: _settled(stack, len(records), first), "the first pass to settle", stack.procs)
    subprocess.run(cli, env=env, check=True, capture_output=True, timeout=60)
    _wait(lambda: dlq() == 2 * EXPECTED_DLQ, "the second pass through the router", stack.procs)
    _wait(lambda: _settled(stack, 2 * len(records), 2 * first), "the second pass to settle",
          stack.procs)
    assert _evidence(settings) == expected
    assert _no_duplicate_evidence_events(settings)


def _valid(records: list[tuple[bytes | None, bytes]]) -> list[tuple[bytes | None, bytes]]:
    valid = []
    for key, value in records:
        try:
            parse_detection(value)
        except InvalidDetection:
            continue
        valid.append((key, value))
    return valid


def _load(n_sites: int, per_site: int, now: datetime) -> list[tuple[bytes | None, bytes]]:
    out = []
    for site in range(n_sites):
        for i in range(per_site):
            rec = record("fire", source=f"cam-{site}-{i % 3}", site=f"site-{site}", conf=0.9,
                         at=now, seconds=i * 0.2)
            out.append((rec["source_id"].encode(), json.dumps(rec).encode()))
        face = record("face_match", source=f"cam-{site}-9", site=f"site-{site}", conf=0.9,
                      at=now, attributes={"subject_id": f"W-{site % 4}", "similarity": 0.9})
        out.append((face["source_id"].encode(), json.dumps(face).encode()))
        for i in range(3):  # source-keyed, no site: correlated by the route hop directly
            fight = record("fight", source=f"patrol-{site}", site=None, conf=0.9, at=now,
                           seconds=i * 0.5)
            out.append((fight["source_id"].encode(), json.dumps(fight).encode()))
    return out


async def _reference(records: list[tuple[bytes | None, bytes]], now: datetime):
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.popo"}, RULES)
    engine = CorrelationEngine(app, RULES)
    dets = [parse_detection(v) for _, v in records]
    await engine.process(0, [(d, None) for d in dets], now)
    await engine.drain(now)
    engine.close()
    return {i.incident_key: frozenset(i.evidence_ids) for i in app.incidents()}


def test_two_workers_a_crash_and_a_restart_lose_and_duplicate_nothing(stack: LocalStack) -> None:
    now = datetime.now(UTC)
    records = _load(24, 20, now)
    expected = asyncio.run(_reference(records, now))
    a, _ = stack.spawn("worker-a", ["worker"]), stack.spawn("worker-b", ["worker"])
    third = len(records) // 3
    _publish(stack, records[:third])
    _wait(lambda: len(_evidence(stack.settings)) > 0, "the first incidents", stack.procs)
    a.send_signal(signal.SIGKILL)  # mid-stream: its partitions move to worker-b
    a.wait()
    _publish(stack, records[third:2 * third])
    stack.spawn("worker-a2", ["worker"])  # the crashed worker comes back
    _publish(stack, records[2 * third:] + records[:third])  # and a redelivered batch
    _wait(lambda: _evidence(stack.settings) == expected, "the reference incidents", stack.procs)
    _wait(lambda: drained(stack.bootstrap, stack.settings.consumer_group),
          "every record to be durable", stack.procs)
    assert _no_duplicate_evidence_events(stack.settings)
    assert _evidence(stack.settings) == expected

