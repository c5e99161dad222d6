"""`kuzet adapter webhook` on the 3-broker cluster with its state in PostgreSQL: SIGKILLed
mid-feed and restarted, it delivers every incident event of the police topic once per id to a
flaky receiver (500s, dropped stores), signed, resuming from its checkpoints (reusing the
embedded-broker test's receiver and feed builders, tests/integration/adapters/)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from adapters.signing import KeyPair, generate, load_public_key
from domain.application import IncidentApp
from domain.kinds import Agency
from domain.log import LogReader
from domain.topics import APPEAL_STATUS, INCIDENT_EVENTS, agency_topic
from kuzet.kafka import ensure_topics
from streams.relay import event_id
from tests.cluster.conftest import PEPPER
from tests.cluster.kafka_cluster import KafkaCluster
from tests.helpers import default_rules
from tests.integration.adapters.conftest import _incidents, _relay, wait_until
from tests.integration.adapters.receiver import Chaos, ChaosReceiver

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 3


@pytest.fixture
def key_pair() -> KeyPair:
    return generate()


async def _police_feed(bootstrap: str, tmp_path: Path) -> tuple[str, frozenset[str]]:
    """40 fights relayed onto a fresh suffix of every relay topic (the cluster creates no
    topic on first use); the police topic and the event ids it must deliver."""
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                       "SQLITE_DBNAME": str(tmp_path / "feed-events.sqlite")}, default_rules())
    try:
        _incidents(app, 40)
        suffix = f".{uuid.uuid4().hex[:8]}"
        topics = [t + suffix for t in (INCIDENT_EVENTS, APPEAL_STATUS,
                                       *(agency_topic(a) for a in Agency))]
        await ensure_topics(bootstrap, topics, PARTITIONS)
        await _relay(app, bootstrap, suffix, tmp_path)
        every = {event_id(e) for e in LogReader(app).read(1, 10_000) if e.aggregate == "Incident"}
    finally:
        app.close()
    return agency_topic(Agency.POLICE) + suffix, frozenset(every)


def test_a_killed_webhook_adapter_on_the_cluster_delivers_everything_once(
        cluster: KafkaCluster, postgres_url: str, tmp_path: Path, key_pair: KeyPair) -> None:
    topic, deliverable = asyncio.run(_police_feed(cluster.bootstrap_servers, tmp_path))
    receiver = ChaosReceiver(load_public_key(key_pair.public_b64),
                             Chaos(p_500=0.1, p_store_drop=0.1, delay_s=0.01), seed=5).start()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KUZET_")}
    env = {**clean, "KUZET_DATA_DIR": str(tmp_path / "data"),
           "KUZET_KAFKA_URL": cluster.bootstrap_servers,
           "KUZET_EVENT_STORE_URL": postgres_url, "KUZET_PRIVACY_PEPPER": PEPPER,
           "KUZET_ADAPTER_STATE_URL": postgres_url,
           "KUZET_ADAPTER_SIGNING_KEY": key_pair.private_b64,
           "KUZET_ADAPTER_MAX_ATTEMPTS": "60", "KUZET_ADAPTER_BACKOFF_BASE_S": "0.005",
           "KUZET_ADAPTER_BACKOFF_CAP_S": "0.02", "KUZET_ADAPTER_TIMEOUT_S": "2"}
    cmd = [sys.executable, "-m", "kuzet", "adapter", "webhook", "--agency", "police",
           "--url", receiver.url, "--topic", topic]
    try:
        first = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
        wait_until(lambda: len(receiver.unique()) >= 20 or first.poll() is not None,
                   "a first part of the feed", 120)
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = len(receiver.stored)
        assert len(receiver.unique()) < len(deliverable)  # it died mid-feed
        second = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        wait_until(lambda: set(receiver.unique()) == deliverable, "every event delivered", 120)
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, second.stderr.read() if second.stderr else ""
    finally:
        receiver.stop()
    assert receiver.outcomes["bad_signature"] == 0
    before = {r.key for r in receiver.stored[:killed_at]}
    after = {r.key for r in receiver.stored[killed_at:]}
    assert len(before & after) <= PARTITIONS  # resumed at the checkpoints: only in-flight again
