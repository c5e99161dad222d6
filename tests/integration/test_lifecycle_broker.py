"""Broker faults on the real embedded broker: committed offsets beyond a partition's end.

What a restarted memory broker (or a cluster's unclean loss) leaves behind: a consumer group
whose committed offsets lie past the end of a recreated, shorter topic. Tansu answers a fetch
there with nothing at all (no OffsetOutOfRange), so without the worker's check every later
record would be skipped silently. The worker must log one WARNING per partition naming topic,
partition, committed offset and end, and apply KUZET_OFFSET_RESET.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.commands.core import publish_records
from kuzet.kafka import ensure_topics
from kuzet.lifecycle import STOP_BOUND_S
from kuzet.settings import load_settings
from kuzet.wiring import build_incident_app
from tests.helpers import record

pytestmark = [pytest.mark.broker, pytest.mark.slow]
PARTITIONS = 2
STALE = 3036  # the committed offset the issue saw pushed into a new, empty topic


def _fires(tag: str, sites: int) -> list[tuple[bytes | None, bytes]]:
    now = datetime.now(UTC)
    out = []
    for s in range(sites):
        for i in range(3):
            rec = record("fire", source=f"{tag}-cam-{s}-{i}", site=f"{tag}-site-{s}", at=now)
            out.append((rec["source_id"].encode(), json.dumps(rec).encode()))
    return out


async def _commit_stale(bootstrap: str, group: str) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(DETECTIONS, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.commit(dict.fromkeys(tps, STALE))
    finally:
        await consumer.stop()


def _sites(data_dir: Path, tag: str) -> set[str]:
    settings = load_settings(environ={}, data_dir=str(data_dir))
    app = build_incident_app(settings)
    try:
        return {i.site_id for i in app.incidents() if i.site_id and i.site_id.startswith(tag)}
    finally:
        app.close()


def _readyz(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
        return dict(json.loads(response.read()))


def _wait(what: str, predicate, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, f"the worker exited with {proc.returncode}"
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.parametrize("policy", ["earliest", "latest"])
def test_committed_offsets_beyond_the_end_are_reset_by_policy(tmp_path: Path,
                                                              policy: str) -> None:
    group, health_port = f"g-{uuid.uuid4().hex[:8]}", free_port()
    log = tmp_path / "worker.log"
    with EmbeddedBroker(free_port(), tmp_path / "broker.log") as broker:
        bootstrap = broker.bootstrap_servers
        asyncio.run(ensure_topics(bootstrap, [DETECTIONS, CORRELATION, DETECTIONS_DLQ],
                                  PARTITIONS))
        asyncio.run(_commit_stale(bootstrap, f"{group}.route"))
        before = _fires("before", 4)  # in the topic before the worker starts
        asyncio.run(publish_records(bootstrap, before, DETECTIONS))
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUZET_")}
        env.update({"KUZET_KAFKA_URL": bootstrap, "KUZET_DATA_DIR": str(tmp_path / "data"),
                    "KUZET_CONSUMER_GROUP": group, "KUZET_KAFKA_PARTITIONS": str(PARTITIONS),
                    "KUZET_OFFSET_RESET": policy, "KUZET_EVIDENCE_INTERVAL_S": "0.5",
                    "KUZET_TICK_INTERVAL_S": "0.5", "KUZET_HEALTH_PORT": str(health_port),
                    "KUZET_CONSUMER_SESSION_TIMEOUT_S": "4"})
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "kuzet", "worker"], env=env,
                                    stdout=out, stderr=out)
        try:
            _wait("the offset reset warnings", lambda: log.read_text().count(
                f"offset reset: topic {DETECTIONS}") == PARTITIONS, proc)
            after = _fires("after", 3)
            asyncio.run(publish_records(bootstrap, after, DETECTIONS))
            _wait("the later records' incidents",
                  lambda: len(_sites(tmp_path / "data", "after")) == 3, proc)
            if policy == "earliest":
                _wait("the earlier records' incidents",
                      lambda: len(_sites(tmp_path / "data", "before")) == 4, proc)
            else:  # latest: what was there is skipped, and only that
                assert _sites(tmp_path / "data", "before") == set()
            ready = _readyz(health_port)
            assert ready["status"] == "ready", ready
            hops = {h["topic"]: h for h in ready["hops"]}
            assert hops[DETECTIONS]["offset_resets"] == PARTITIONS
            assert hops[CORRELATION]["offset_resets"] == 0
        finally:
            if policy == "latest":  # and a stop with the broker gone: still within the bound
                broker.stop()
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
            took = time.monotonic() - started
    text = log.read_text()
    assert code == 0, text[-2000:]
    assert took < STOP_BOUND_S, took
    for p in range(PARTITIONS):
        assert (f"topic {DETECTIONS} partition {p}: committed/next offset {STALE} is beyond "
                f"the partition's end") in text
    assert f"KUZET_OFFSET_RESET={policy}" in text
