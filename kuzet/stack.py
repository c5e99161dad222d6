"""The local stack: the embedded broker (unless a Kafka URL is configured) and the processes.

Each process is a real `kuzet <command>` subprocess with its settings passed as `KUZET_*`
environment variables, exactly as an operator would run them on separate machines.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
from kuzet.broker import EmbeddedBroker
from kuzet.errors import KuzetError
from kuzet.kafka import ensure_topics
from kuzet.settings import Settings

__all__ = ["LocalStack", "settings_env"]


def settings_env(settings: Settings, bootstrap: str) -> dict[str, str]:
    """Environment for a child process: the same settings, pointed at the running broker."""
    env = dict(os.environ)
    env.update({
        "KUZET_DATA_DIR": str(settings.data_dir),
        "KUZET_EVENT_STORE_URL": settings.event_store_url,
        "KUZET_KAFKA_URL": bootstrap,
        "KUZET_KAFKA_PARTITIONS": str(settings.kafka_partitions),
        "KUZET_CONSUMER_GROUP": settings.consumer_group,
        "KUZET_EVIDENCE_INTERVAL_S": str(settings.evidence_interval_s),
        "KUZET_TICK_INTERVAL_S": str(settings.tick_interval_s),
        "KUZET_LOG_LEVEL": settings.log_level,
    })
    if settings.rules_path is not None:
        env["KUZET_RULES_PATH"] = str(settings.rules_path)
    if settings.token_secret:
        env["KUZET_TOKEN_SECRET"] = settings.token_secret
    if settings.privacy_pepper:  # every process must hash identities with the same pepper
        env["KUZET_PRIVACY_PEPPER"] = settings.privacy_pepper
    env["KUZET_PRIVACY_KEY_CACHE_S"] = str(settings.privacy_key_cache_s)
    return env


class LocalStack:
    """Starts the broker and `kuzet` subprocesses; stops them all on exit (reverse order)."""

    def __init__(self, settings: Settings, broker_port: int | None = None) -> None:
        self.settings = settings
        self.broker: EmbeddedBroker | None = None
        self._broker_port = broker_port or settings.embedded_broker_port
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap_servers if self.broker else self.settings.bootstrap_servers

    @property
    def logs(self) -> Path:
        path = self.settings.data_dir / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start(self) -> LocalStack:
        if self.settings.uses_embedded_broker:
            self.broker = EmbeddedBroker(self._broker_port, self.logs / "broker.log").start()
        topics = [DETECTIONS, CORRELATION, DETECTIONS_DLQ]
        asyncio.run(ensure_topics(self.bootstrap, topics, self.settings.kafka_partitions))
        return self

    def spawn(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        """Run `kuzet <args>` as a child named `name`, logging to `<data_dir>/logs/name.log`."""
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "kuzet", *args],
            env=settings_env(self.settings, self.bootstrap), stdout=log, stderr=log,
        )
        self.procs[name] = proc
        return proc

    def start_processes(self, console: Any, *, workers: int) -> None:
        """The correlation workers, then every process in `stack_extras.PROCESSES`."""
        from kuzet.commands import stack_extras

        for n in range(workers):
            self.spawn(f"worker-{n}", ["worker"])
        stack_extras.start(self, console)

    def watch(self, console: Any) -> None:
        """Block until Ctrl-C; a child that exits ends the stack with a one-line error."""
        try:
            while True:
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        raise KuzetError(f"{name} exited with status {proc.returncode}; "
                                         f"see {self.logs / (name + '.log')}")
                time.sleep(1)
        except KeyboardInterrupt:
            console.print("stopping…")

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
