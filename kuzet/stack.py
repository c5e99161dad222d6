"""The local stack: the embedded broker (unless a Kafka URL is configured) and the processes.

Each process is a real `kuzet <command>` subprocess with its settings passed as `KUZET_*`
environment variables, exactly as an operator would run them on separate machines.

Lifecycle (README "Process lifecycle"):
- every child runs in its own process group (so Ctrl-C in a terminal reaches `kuzet up` only,
  and stopping a child reaches its own children too) and gets SIGTERM from the kernel if
  `kuzet up` itself is killed (`broker.die_with_parent`);
- before starting, the ports the stack needs must be free (broker, API), else one line says
  which port and which setting moves it; `wait_ready` waits until every child's `/healthz`
  and the API's port answer before the caller prints success;
- a child that exits is reported in one line and restarted after a capped backoff (1 s
  doubling to `RESTART_BACKOFF_CAP_S`, reset after a minute up); the embedded broker is
  restarted the same way by its supervisor, with its topics recreated;
- `stop` sends SIGTERM to every child's process group (last started first), waits up to
  `lifecycle.STOP_BOUND_S`, then SIGKILLs what is left of the groups, then stops the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from kuzet.broker import SupervisedBroker, die_with_parent, free_port, kuzet_topics, port_free
from kuzet.errors import KuzetError
from kuzet.kafka import client_options, ensure_topics
from kuzet.lifecycle import STOP_BOUND_S, blocked_until_handled
from kuzet.settings import Settings

__all__ = ["RESTART_BACKOFF_CAP_S", "LocalStack", "settings_env"]

RESTART_BACKOFF_CAP_S = 30.0
"""A child that keeps dying is restarted at most this often."""


@dataclass
class _Child:
    name: str
    args: list[str]
    health_port: int
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    backoff: float = 1.0
    restart_at: float | None = None
    restarts: int = 0


def settings_env(settings: Settings, bootstrap: str) -> dict[str, str]:
    """Environment for a child process: the same settings, pointed at the running broker."""
    env = dict(os.environ)
    env.update({
        "KUZET_DATA_DIR": str(settings.data_dir),
        "KUZET_EVENT_STORE_URL": settings.event_store_url,
        "KUZET_KAFKA_URL": bootstrap,
        "KUZET_KAFKA_PARTITIONS": str(settings.kafka_partitions),
        # resolved here: a child pointed at the embedded broker by URL would take a cluster's
        "KUZET_KAFKA_FETCH_WAIT_MS": str(settings.fetch_wait_ms),
        "KUZET_CONSUMER_GROUP": settings.consumer_group,
        "KUZET_EVIDENCE_INTERVAL_S": str(settings.evidence_interval_s),
        "KUZET_TICK_INTERVAL_S": str(settings.tick_interval_s),
        "KUZET_LOG_LEVEL": settings.log_level,
        "KUZET_LOG_FORMAT": settings.log_format,
        "KUZET_API_HOST": settings.api_host,
        "KUZET_API_PORT": str(settings.api_port),
        "KUZET_OFFSET_RESET": settings.offset_reset,
        "KUZET_CONSUMER_SESSION_TIMEOUT_S": str(settings.consumer_session_timeout_s),
    })
    if settings.read_model_url:
        env["KUZET_READ_MODEL_URL"] = settings.read_model_url
    if settings.rules_path is not None:
        env["KUZET_RULES_PATH"] = str(settings.rules_path)
    if settings.procedures_path is not None:
        env["KUZET_PROCEDURES_PATH"] = str(settings.procedures_path)
    if settings.rules_author:
        env["KUZET_RULES_AUTHOR"] = settings.rules_author
    if settings.token_secret:
        env["KUZET_TOKEN_SECRET"] = settings.token_secret
    if settings.privacy_pepper:  # every process must hash identities with the same pepper
        env["KUZET_PRIVACY_PEPPER"] = settings.privacy_pepper
    env["KUZET_PRIVACY_KEY_CACHE_S"] = str(settings.privacy_key_cache_s)
    if settings.archive_url:
        env["KUZET_ARCHIVE_URL"] = settings.archive_url
    env["KUZET_ARCHIVE_RETENTION_DAYS"] = str(settings.archive_retention_days)
    env["KUZET_ARCHIVE_BATCH"] = str(settings.archive_batch)
    for name in ("kafka_security_protocol", "kafka_sasl_mechanism", "kafka_sasl_username",
                 "kafka_sasl_password", "kafka_ssl_cafile", "kafka_ssl_certfile",
                 "kafka_ssl_keyfile"):  # the cluster's credentials, for every child
        value = getattr(settings, name)
        if value:
            env[f"KUZET_{name.upper()}"] = str(value)
    return env


class LocalStack:
    """Starts the broker and `kuzet` subprocesses; stops them all on exit (reverse order)."""

    def __init__(self, settings: Settings, broker_port: int | None = None) -> None:
        self.settings = settings
        self.broker: SupervisedBroker | None = None
        self._broker_port = broker_port or settings.embedded_broker_port
        self.children: dict[str, _Child] = {}
        self.restart = True
        """Restart children that exit (tests that kill a child on purpose turn it off)."""

    @property
    def procs(self) -> dict[str, subprocess.Popen[bytes]]:
        return {name: child.proc for name, child in self.children.items()}

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap_servers if self.broker else self.settings.bootstrap_servers

    @property
    def logs(self) -> Path:
        path = self.settings.data_dir / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def check_ports(self, *, api: bool) -> None:
        """Refuse to start when a port the stack needs belongs to another program."""
        wanted = []
        if self.settings.uses_embedded_broker:
            wanted.append((self._broker_port, "the embedded broker", "KUZET_EMBEDDED_BROKER_PORT"))
        if api:
            wanted.append((self.settings.api_port, "the API", "KUZET_API_PORT"))
        for port, what, key in wanted:
            if not port_free(port):
                raise KuzetError(f"port {port} ({what}) is already in use by another program; "
                                 f"stop it or set {key}")

    def start(self) -> LocalStack:
        if self.settings.uses_embedded_broker:
            self.broker = SupervisedBroker(
                self._broker_port, self.logs / "broker.log", topics=kuzet_topics(),
                partitions=self.settings.kafka_partitions).start()
        else:
            asyncio.run(ensure_topics(self.bootstrap, kuzet_topics(),
                                      self.settings.kafka_partitions,
                                      options=client_options(self.settings)))
        return self

    def spawn(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        """Run `kuzet <args>` as a child named `name`, logging to `<data_dir>/logs/name.log`,
        in its own process group, with `/healthz` and `/readyz` on a port of its own."""
        port = free_port()
        child = _Child(name, list(args), port, self._popen(name, list(args), port))
        self.children[name] = child
        return child.proc

    def _popen(self, name: str, args: list[str], health_port: int) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        env = settings_env(self.settings, self.bootstrap)
        env["KUZET_HEALTH_PORT"] = str(health_port)
        try:
            return subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "kuzet", *args], env=env, stdout=log, stderr=log,
                process_group=0, preexec_fn=_child_preexec,  # noqa: PLW1509
            )
        finally:
            log.close()

    def health_url(self, name: str, path: str = "/healthz") -> str:
        return f"http://127.0.0.1:{self.children[name].health_port}{path}"

    def start_processes(self, console: Any, *, workers: int) -> None:
        """The correlation workers, then every process in `stack_extras.PROCESSES`."""
        from kuzet.commands import stack_extras

        for n in range(workers):
            self.spawn(f"worker-{n}", ["worker"])
        stack_extras.start(self, console)

    def wait_ready(self, timeout: float = 60.0, *, api: bool = True) -> None:
        """Wait until every child's /healthz and the API's /healthz answer; a child that
        exits meanwhile, or time running out, is a `KuzetError` naming it and its log."""
        deadline = time.monotonic() + timeout
        urls = {name: self.health_url(name) for name in self.children}
        if api and "api" in self.children:
            urls["api (port)"] = f"http://{self.settings.api_host}:{self.settings.api_port}/healthz"
        waiting = dict(urls)
        while waiting:
            for name, child in self.children.items():
                if child.proc.poll() is not None:
                    raise KuzetError(f"{name} exited with status {child.proc.returncode} while "
                                     f"starting; see {self.logs / (name + '.log')}")
            waiting = {n: u for n, u in waiting.items() if not _answers(u)}
            if waiting and time.monotonic() > deadline:
                raise KuzetError(f"not answering after {timeout:.0f}s: "
                                 f"{', '.join(sorted(waiting))}; see {self.logs}")
            time.sleep(0.1)

    def supervise_once(self, report: Any) -> None:
        """Report children that exited and restart those whose backoff has passed."""
        now = time.monotonic()
        for child in self.children.values():
            if child.restart_at is None and child.proc.poll() is not None:
                if now - child.started > 60:
                    child.backoff = 1.0
                child.restart_at = now + child.backoff
                report(f"{child.name} exited with status {child.proc.returncode}; "
                       + (f"restarting in {child.backoff:.0f}s" if self.restart else "not "
                          "restarted") + f" (see {self.logs / (child.name + '.log')})")
                child.backoff = min(child.backoff * 2, RESTART_BACKOFF_CAP_S)
            if self.restart and child.restart_at is not None and now >= child.restart_at:
                child.proc = self._popen(child.name, child.args, child.health_port)
                child.started, child.restart_at = now, None
                child.restarts += 1
                report(f"{child.name} restarted (pid {child.proc.pid}, restart "
                       f"{child.restarts})")

    def watch(self, console: Any) -> None:
        """Supervise the children until SIGTERM/SIGINT (`lifecycle.Stopping`) ends it."""
        while True:
            self.supervise_once(lambda line: console.print(line, highlight=False))
            time.sleep(0.5)

    def stop(self) -> dict[str, int | None]:
        """Stop every child (bounded), then the broker; each child's exit status by name
        (0: a clean stop; negative: killed by that signal once the bound had passed)."""
        children = list(self.children.values())
        for child in reversed(children):
            _signal_group(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_BOUND_S
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        statuses = {child.name: child.proc.poll() for child in children}
        for child in children:  # what is left of each group: the bound has passed
            _signal_group(child.proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=5)
        self.children.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        return statuses

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _child_preexec() -> None:
    die_with_parent()
    blocked_until_handled()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """`sig` to the child's process group (its leader's pid), if anything of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
            return bool(response.status == 200 and json.loads(response.read()) is not None)
    except (urllib.error.URLError, OSError, ValueError):
        return False
