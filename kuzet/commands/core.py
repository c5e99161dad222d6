"""Core commands: broker, worker, publish, incidents, up, demo, bench."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kuzet.errors import KuzetError
from kuzet.settings import Settings, load_settings

__all__ = ["register"]

console = Console()
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (section \\[kuzet]).")
]


def broker(
    config: ConfigOpt = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu) in the foreground, restarting it if it
    dies. Its storage is in memory: a restart empties it (development and the demo only)."""
    from kuzet.broker import SupervisedBroker, kuzet_topics
    from kuzet.health import serve_health
    from kuzet.lifecycle import Stopping, ignoring_signals, log_warnings, raise_on_signals

    settings = load_settings(config, embedded_broker_port=port)
    log_warnings()
    raise_on_signals()
    supervisor = SupervisedBroker(settings.embedded_broker_port, topics=kuzet_topics(),
                                  partitions=settings.kafka_partitions)
    health = None
    try:
        with supervisor:
            health = serve_health("broker", settings.health_port, lambda: (
                supervisor.alive(), {"broker_pid": supervisor.pid,
                                     "restarts": supervisor.restarts}))
            console.print(f"broker listening on [bold]{supervisor.bootstrap_servers}[/] "
                          "(storage in memory: a restart empties it; for development and the "
                          "demo, durability comes from a Kafka cluster). Ctrl-C stops.")
            while True:
                time.sleep(3600)
    except Stopping:
        pass
    finally:
        with ignoring_signals():
            supervisor.stop()
            if health is not None:
                health.stop()


ProcessesOpt = Annotated[int, typer.Option(
    "--processes", min=1, help="Worker processes on this host (one per core is the most that "
    "helps): each consumes on its own, in the same consumer groups.")]


def worker(config: ConfigOpt = None, processes: ProcessesOpt = 1,
           shadow: Annotated[Path | None, typer.Option(
               "--shadow", help="Run CANDIDATE rules beside live traffic into the shadow "
               "store only (kuzet rules diff-shadow compares).")] = None) -> None:
    """Run a correlation worker: detections in, incidents out. Scale out by running more."""
    if shadow is not None:
        from kuzet.commands.rules import run_shadow

        return run_shadow(config, shadow)
    if processes > 1:
        raise SystemExit(_run_processes(config, processes))
    import logging

    from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
    from kuzet.health import serve_health
    from kuzet.kafka import client_options, ensure_topics
    from kuzet.wiring import build_worker_app

    phase = logging.getLogger("kuzet.worker").info  # start-up phases (bench/worker_start.py)
    phase("worker: imports done")
    settings = load_settings(config)
    from kuzet.commands.rules import record_start_activation

    if (activated := record_start_activation(settings)) is not None:
        logging.getLogger("kuzet.worker").info(activated)  # a log line (JSON with --log-format)
    asyncio.run(ensure_topics(settings.bootstrap_servers,
                              [DETECTIONS, CORRELATION, DETECTIONS_DLQ],
                              settings.kafka_partitions, timeout_s=settings.connect_timeout_s,
                              options=client_options(settings)))
    phase("worker: topics ensured (metadata)")
    hops: list[Any] = []
    app = build_worker_app(settings, on_correlator=hops.append)
    phase("worker: store opened, app built")
    serve_health("worker", settings.health_port, lambda: hops[0].ready(WORKER_READY_MAX_LAG))
    worker_class = _quiet_worker_class()
    try:
        # no stdout redirection: mode would swap sys.stderr for a logging proxy, and the log
        # handler (which writes to the current sys.stderr) would then lose every line
        worker_class(app, loglevel=settings.log_level, quiet=True,
                     redirect_stdouts=False).execute_from_commandline()
    except SystemExit as exc:
        # mode exits non-zero after a stop by signal; a requested stop is a clean exit
        if exc.code not in (None, 0) and not worker_class.stopped_by_signal:
            raise
        raise SystemExit(0) from None


def _run_processes(config: Path | None, n: int) -> int:
    """`kuzet worker --processes N`: N single workers as children with the same settings (the
    same consumer groups, so the partitions spread over them; health ports KUZET_HEALTH_PORT,
    +1, +2… where one is set). SIGTERM/SIGINT are passed on; the exit status is 0 when every
    child exited 0, else the first non-zero one."""
    import os
    import signal
    import subprocess
    import sys

    from kuzet.logs import current_format

    settings = load_settings(config)
    args = [sys.executable, "-m", "kuzet", "worker", *(["--config", str(config)] if config else [])]
    children = []
    for i in range(n):
        env = {**os.environ, "KUZET_LOG_FORMAT": current_format()}
        if settings.health_port:
            env["KUZET_HEALTH_PORT"] = str(settings.health_port + i)
        children.append(subprocess.Popen(args, env=env))  # noqa: S603 - our own command line

    def forward(signum: int, _: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    codes = [child.wait() for child in children]
    return next((code for code in codes if code), 0)


WORKER_READY_MAX_LAG = 10_000
"""A worker is ready while each hop is connected and at most this many records behind."""


def _quiet_worker_class() -> Any:
    import logging

    import mode

    class QuietWorker(mode.Worker):
        """A worker whose root logger stays at the configured level.

        A terminal spinner would set the root logger to DEBUG (and filter in its handler),
        so every library's per-message `log.debug` built a record: ~5% of a busy worker's CPU.
        SIGTERM and SIGINT stop it the same way (mode's handlers), noted so the exit is 0.
        """

        stopped_by_signal = False

        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            logger.setLevel(level or logging.WARNING)
            from kuzet.logs import reinstall

            reinstall(logger)  # json mode: Kuzet's handler, not mode's coloured one
            self.spinner = None  # never spins here; its cursor escapes broke log lines

        def _on_sigint(self) -> None:
            QuietWorker.stopped_by_signal = True
            super()._on_sigint()

        def _on_sigterm(self) -> None:
            QuietWorker.stopped_by_signal = True
            super()._on_sigterm()

    return QuietWorker


async def publish_records(bootstrap: str, records: list[tuple[bytes | None, bytes]],
                          topic: str, options: Mapping[str, Any] | None = None) -> int:
    """Send (key, value) records and wait until the broker has them all."""
    from aiokafka.errors import KafkaConnectionError

    from kuzet.kafka import KafkaUnreachable
    from streams.producer import start_producer

    try:  # acks=all, idempotent where the broker grants producer ids
        producer = await start_producer(bootstrap, linger_ms=10, max_batch_size=1 << 20,
                                        **(options or {}))
    except KafkaConnectionError:
        raise KafkaUnreachable(f"no Kafka broker answers at {bootstrap}") from None
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(records)


def read_jsonl(path: Path) -> list[tuple[bytes | None, bytes]]:
    """Lines of a JSONL file as (key=source_id, value) — malformed lines are sent as they are."""
    try:
        lines = [ln for ln in path.read_bytes().splitlines() if ln.strip()]
    except OSError as exc:
        raise KuzetError(f"cannot read {path}: {exc.strerror}") from None
    out: list[tuple[bytes | None, bytes]] = []
    for line in lines:
        try:
            key = json.loads(line).get("source_id")
        except (ValueError, AttributeError):
            key = None
        out.append((str(key).encode() if key else None, line))
    return out


def publish(
    file: Annotated[Path, typer.Argument(help="JSONL file, one detection record per line.")],
    config: ConfigOpt = None,
    now: Annotated[bool, typer.Option("--now", help="Shift every observed_at so that the "
                                      "latest is now (replay a sample or a recording).")] = False,
) -> None:
    """Send detection records to kuzet.detections.v1 (keyed by source_id)."""
    from datetime import UTC, datetime

    from domain.topics import DETECTIONS
    from kuzet.restamp import restamp

    settings = load_settings(config)
    records = read_jsonl(file)
    if now:
        records = restamp(records, datetime.now(UTC))
    from kuzet.kafka import client_options

    sent = asyncio.run(publish_records(settings.bootstrap_servers, records, DETECTIONS,
                                       client_options(settings)))
    console.print(f"published {sent} record(s) to {DETECTIONS} at {settings.bootstrap_servers}")


def incident_rows(settings: Settings) -> list[dict[str, Any]]:
    from kuzet.wiring import build_incident_app

    app = build_incident_app(settings)
    try:
        return [{
            "id": str(i.id), "key": i.incident_key, "kind": i.kind, "status": i.status.value,
            "severity": i.severity, "level": i.level, "site_id": i.site_id,
            "sources": list(i.sources), "evidence": i.evidence_count,
            "opened_at": i.opened_at.isoformat(), "version": i.version,
            "linked_to": i.linked_to,
        } for i in app.incidents()]
    finally:
        app.close()


def incidents_table(rows: list[dict[str, Any]], title: str = "Incidents") -> Table:
    table = Table(title=title)
    for col in ("id", "kind", "status", "sev", "site", "sources", "evidence", "opened"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"][:8], r["kind"], r["status"], f"{r['severity']}/L{r['level']}",
                      r["site_id"] or "-", ",".join(r["sources"]) or "-", str(r["evidence"]),
                      r["opened_at"][11:19])
    return table


def incidents(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """List incidents from the event store."""
    rows = incident_rows(load_settings(config))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        console.print(incidents_table(rows))


def up(
    config: ConfigOpt = None,
    workers: Annotated[int, typer.Option(help="Correlation workers to run.")] = 1,
) -> None:
    """Run the local stack (embedded broker unless KUZET_KAFKA_URL is set, workers) until Ctrl-C
    or SIGTERM; a child that dies is reported and restarted (capped backoff)."""
    from kuzet.lifecycle import Stopping, ignoring_signals, log_warnings, raise_on_signals
    from kuzet.stack import LocalStack

    settings = load_settings(config)
    log_warnings()
    raise_on_signals()
    stack = LocalStack(settings)
    try:
        stack.check_ports(api=True)
        stack.start()
        stack.start_processes(console, workers=workers)
        stack.wait_ready()
        console.print(f"Kuzet is up: Kafka at [bold]{stack.bootstrap}[/], "
                      f"store {settings.event_store_url or settings.data_dir / 'events.sqlite'}; "
                      f"logs in {stack.logs}; health: "
                      + ", ".join(f"{n} {stack.health_url(n, '')}" for n in stack.children)
                      + ". Ctrl-C stops.", highlight=False)
        stack.watch(console)
    except Stopping:
        console.print("stopping…")
    finally:
        with ignoring_signals():
            statuses = stack.stop()
        if statuses:
            console.print("stopped (exit status): " + ", ".join(
                f"{name} {status}" for name, status in statuses.items()), highlight=False)


def demo(
    config: ConfigOpt = None,
    follow: Annotated[bool, typer.Option(help="Keep the stack running afterwards.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the incidents.")] = 120.0,
) -> None:
    """`up` plus a built-in scenario across ~20 cameras and sensors; prints the incidents."""
    from kuzet.broker import free_port
    from kuzet.demo import run_demo

    base = load_settings(config)
    data_dir = base.data_dir / "demo"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    settings = load_settings(config, data_dir=str(data_dir),
                             consumer_group=f"kuzet-demo-{int(time.time())}",
                             embedded_broker_port=free_port() if not base.kafka_url else None)
    ok = run_demo(settings, console, follow=follow, timeout=timeout)
    if not ok:
        raise typer.Exit(1)


def bench(
    what: Annotated[str, typer.Argument(help="Benchmark to run: correlate.")] = "correlate",
    n: Annotated[int, typer.Option(help="Detections to publish.")] = 20000,
    postgres_url: Annotated[str, typer.Option(help="PostgreSQL server for the PG run.")] = "",
) -> None:
    """Run a benchmark (prints figures and ratios measured side by side)."""
    if what != "correlate":
        raise KuzetError(f"unknown benchmark {what!r}; known: correlate")
    from kuzet.bench_correlate import main as bench_main

    bench_main(n=n, postgres_url=postgres_url or None)


def register(app: typer.Typer) -> None:
    for command in (broker, worker, publish, incidents, up, demo, bench):
        app.command()(command)


__all__ += ["incident_rows", "incidents_table", "publish_records", "read_jsonl"]
