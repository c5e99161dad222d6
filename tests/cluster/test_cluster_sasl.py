"""The Kafka security settings end to end: the cluster's SASL_PLAINTEXT listeners (mechanism
PLAIN) refuse clients that do not authenticate, so Kuzet's processes only work there if every
client they make carries the options from KUZET_KAFKA_SECURITY_PROTOCOL and _SASL_*."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kuzet.scenario import EXPECTED, demo_records
from kuzet.stack import LocalStack, settings_env
from tests.cluster.conftest import cluster_settings
from tests.cluster.kafka_cluster import SASL_PASSWORD, SASL_USER, KafkaCluster
from tests.integration.stack_helpers import drained
from tests.integration.test_streams import _evidence, _wait

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.slow]


def test_topics_publish_and_worker_over_sasl(cluster: KafkaCluster, postgres_url: str,
                                             tmp_path: Path) -> None:
    settings = cluster_settings(cluster, postgres_url, tmp_path,
                                kafka_url=cluster.sasl_bootstrap_servers,
                                kafka_security_protocol="SASL_PLAINTEXT",
                                kafka_sasl_username=SASL_USER,
                                kafka_sasl_password=SASL_PASSWORD)
    env = settings_env(settings, settings.kafka_url)
    topics = subprocess.run([sys.executable, "-m", "kuzet", "topics", "create"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert topics.returncode == 0, topics.stderr
    with LocalStack(settings) as stack:
        stack.spawn("worker-0", ["worker"])
        path = tmp_path / "scenario.jsonl"
        path.write_bytes(b"\n".join(v for _, v in demo_records(datetime.now(UTC))) + b"\n")
        subprocess.run([sys.executable, "-m", "kuzet", "publish", str(path)], env=env,
                       check=True, capture_output=True, timeout=60)
        _wait(lambda: set(_evidence(settings)) == set(EXPECTED), "the scenario's incidents",
              stack.procs)
        _wait(lambda: drained(cluster.bootstrap_servers, settings.consumer_group),
              "the worker's commits (read on the plain listener of the same cluster)",
              stack.procs)
