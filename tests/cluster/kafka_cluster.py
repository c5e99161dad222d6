"""A 3-node Apache Kafka cluster (KRaft, combined broker+controller) on loopback, for tests.

The jars come from Maven Central through `.ci/kafka/fetch` (cached under
~/.cache/kuzet/kafka-<version>/, so a rerun is offline). Each node is a real `kafka.Kafka` JVM
with its own data folder; `kill` sends SIGKILL (no clean shutdown), `restart` starts the same
node again on the same ports and data. Readiness is the cluster's own answer: the metadata
lists every live broker, never a sleep.

Run by hand (for benchmarks): `python -m tests.cluster.kafka_cluster` prints the bootstrap
servers and keeps the cluster up until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType

from kuzet.broker import die_with_parent, free_port

__all__ = ["ClusterUnavailable", "KafkaCluster", "fetch_kafka"]

REPO = Path(__file__).resolve().parents[2]
FETCH = REPO / ".ci" / "kafka" / "fetch"
HEAP = os.environ.get("KUZET_TEST_KAFKA_HEAP", "384m")
SASL_USER, SASL_PASSWORD = "kuzet", "kuzet-test-secret"
"""The one account of the SASL_PLAINTEXT listeners (a throwaway loopback test cluster)."""

_LOG4J = """\
status = warn
appender.f.type = File
appender.f.name = F
appender.f.fileName = {log}
appender.f.layout.type = PatternLayout
appender.f.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.f.ref = F
logger.req.name = kafka.request.logger
logger.req.level = WARN
"""


class ClusterUnavailable(Exception):
    """Raised when Java, Maven or the Kafka jars are missing, or the cluster does not start."""


def fetch_kafka() -> Path:
    """The folder holding `libs/*.jar` (fetched once by `.ci/kafka/fetch`)."""
    if shutil.which("java") is None:
        raise ClusterUnavailable("java (17+) is not installed")
    try:
        done = subprocess.run(["bash", str(FETCH)], capture_output=True, text=True,
                              timeout=600, check=False)
    except subprocess.TimeoutExpired:
        raise ClusterUnavailable(f"{FETCH} took over 10 min") from None
    if done.returncode != 0:
        raise ClusterUnavailable(f"{FETCH} failed: {done.stderr.strip()[-500:]}")
    home = Path(done.stdout.strip().splitlines()[-1])
    if not list((home / "libs").glob("kafka_2.13-*.jar")):
        raise ClusterUnavailable(f"no Kafka jars in {home / 'libs'}")
    return home


class _Node:
    def __init__(self, node_id: int, folder: Path) -> None:
        self.id, self.folder = node_id, folder
        self.port, self.controller_port, self.sasl_port = free_port(), free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_address(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"


def _cluster_id() -> str:
    """A random cluster id as Kafka's `Uuid.randomUuid` makes one: URL-safe base64 of 16 bytes,
    never starting with "-" (the storage tool would read it as an option: 2 ids in 64 did)."""
    while (cid := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))[0] == "-":
        continue
    return cid


class KafkaCluster:
    """`nodes` Kafka processes on loopback, each broker and controller; data under `base`."""

    def __init__(self, home: Path, base: Path, nodes: int = 3) -> None:
        self.home, self.base = home, base
        self.nodes = [_Node(i + 1, base / f"node-{i + 1}") for i in range(nodes)]
        self.cluster_id = _cluster_id()

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.address for n in self.nodes)

    @property
    def sasl_bootstrap_servers(self) -> str:
        """The SASL_PLAINTEXT listeners (mechanism PLAIN; user `SASL_USER`, `SASL_PASSWORD`)."""
        return ",".join(n.sasl_address for n in self.nodes)

    def node(self, node_id: int) -> _Node:
        return self.nodes[node_id - 1]

    # --- lifecycle -------------------------------------------------------------------
    def start(self, timeout: float = 120) -> KafkaCluster:
        for node in self.nodes:
            node.folder.mkdir(parents=True, exist_ok=True)
            (node.folder / "server.properties").write_text(self._properties(node))
            (node.folder / "log4j2.properties").write_text(
                _LOG4J.format(log=node.folder / "server.log"))
        formats = [self._java(n, "kafka.tools.StorageTool", "format", "-t", self.cluster_id,
                              "-c", str(n.folder / "server.properties")) for n in self.nodes]
        for node, fmt in zip(self.nodes, formats, strict=True):
            if fmt.wait(timeout=120) != 0:
                raise ClusterUnavailable(f"formatting node {node.id} failed: see "
                                         f"{node.folder / 'stdout.log'}")
        for node in self.nodes:
            self._launch(node)
        self.wait_brokers(len(self.nodes), timeout)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                node.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait()

    def kill(self, node_id: int) -> None:
        """SIGKILL one node: no controlled shutdown, no leadership hand-over."""
        proc = self.node(node_id).proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def restart(self, node_id: int) -> None:
        """Start a killed node again (same id, ports and data folder)."""
        self._launch(self.node(node_id))

    def __enter__(self) -> KafkaCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- readiness and metadata ------------------------------------------------------
    def wait_brokers(self, count: int, timeout: float = 60) -> None:
        """Until the cluster's metadata lists `count` brokers (each node must be alive)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.proc is not None and node.proc.poll() is not None:
                    raise ClusterUnavailable(f"node {node.id} exited ({node.proc.returncode}): "
                                             f"see {node.folder / 'server.log'}")
            if self._ports_answer() and len(self.live_brokers()) >= count:
                return
            time.sleep(0.25)
        raise ClusterUnavailable(f"{count} brokers not up within {timeout:.0f} s: see "
                                 f"{self.base}/node-*/server.log")

    def _ports_answer(self) -> bool:
        """Every started node accepts connections (before asking for metadata: fewer errors
        logged by clients while the JVMs start)."""
        for node in self.nodes:
            if node.proc is None or node.proc.poll() is not None:
                continue
            try:
                socket.create_connection(("127.0.0.1", node.port), timeout=0.5).close()
            except OSError:
                return False
        return True

    def live_brokers(self) -> set[int]:
        """Broker ids in the cluster's metadata now (empty when nobody answers)."""
        return asyncio.run(_brokers(self.bootstrap_servers))

    def leaders(self, topic: str) -> dict[int, int]:
        """partition -> leader broker id (-1: no leader), as the cluster reports it now."""
        return asyncio.run(_leaders(self.bootstrap_servers, topic))

    # --- internals ----------------------------------------------------------------------
    def _properties(self, node: _Node) -> str:
        voters = ",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        return "\n".join([
            "process.roles=broker,controller",
            f"node.id={node.id}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:"
            f"{node.controller_port},SASL_PLAINTEXT://127.0.0.1:{node.sasl_port}",
            f"advertised.listeners=PLAINTEXT://{node.address},"
            f"SASL_PLAINTEXT://{node.sasl_address}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
            "SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms=PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config="
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{SASL_USER}="{SASL_PASSWORD}";',
            f"log.dirs={node.folder / 'data'}",
            "auto.create.topics.enable=false",  # every topic must come from Kuzet itself
            "unclean.leader.election.enable=false",
            "offsets.topic.replication.factor=3",
            "offsets.topic.num.partitions=6",
            "transaction.state.log.replication.factor=3",
            "transaction.state.log.min.isr=2",
            "group.initial.rebalance.delay.ms=0",
            # loopback test timings: a SIGKILLed broker is fenced in ~3 s, not 9 s
            "broker.session.timeout.ms=3000",
            "broker.heartbeat.interval.ms=500",
            "controller.quorum.election.timeout.ms=1000",
            "controller.quorum.fetch.timeout.ms=2000",
            "replica.lag.time.max.ms=5000",
            "num.network.threads=2",
            "num.io.threads=2",
            "num.replica.fetchers=1",
            "log.cleaner.enable=false",
            "",
        ])

    def _java(self, node: _Node, main: str, *args: str) -> subprocess.Popen[bytes]:
        out = open(node.folder / "stdout.log", "ab")  # noqa: SIM115 - owned by the child
        cmd = ["java", f"-Xmx{HEAP}", "-Xms64m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={node.folder / 'log4j2.properties'}",
               "-cp", str(self.home / "libs" / "*"), main, *args]
        # a test run killed before its teardown must not leave brokers holding their ports
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=die_with_parent)  # noqa: PLW1509

    def _launch(self, node: _Node) -> None:
        node.proc = self._java(node, "kafka.Kafka", str(node.folder / "server.properties"))


async def _brokers(bootstrap: str) -> set[int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), timeout=5)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout=5)
        return {int(b["node_id"]) for b in cluster["brokers"]}
    except Exception:
        return set()
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


async def _leaders(bootstrap: str, topic: str) -> dict[int, int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return {int(p["partition"]): int(p["leader"]) for p in described["partitions"]}
    finally:
        await admin.close()


def main() -> None:
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="kuzet-kafka-"))
    stop = {signal.SIGINT, signal.SIGTERM}
    with KafkaCluster(fetch_kafka(), base) as cluster:
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # after the JVMs: they inherit masks
        print(cluster.bootstrap_servers, flush=True)
        signal.sigwait(stop)
    shutil.rmtree(base, ignore_errors=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
