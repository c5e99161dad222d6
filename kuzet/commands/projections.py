"""`kuzet projections run|rebuild|verify|lag`, `kuzet relay` and `kuzet event-schemas`."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kuzet.settings import Settings, load_settings

if TYPE_CHECKING:
    from projections import ProjectionRunner

__all__ = ["build_runner", "print_views", "register"]

console = Console()
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings TOML file.")]
projections_app = typer.Typer(help="Read models per audience, fed by the event store's log.",
                              no_args_is_help=True)


async def build_runner(settings: Settings) -> ProjectionRunner:
    """A `ProjectionRunner` over the configured event store and read-model store."""
    from kuzet.wiring import build_incident_app, build_log_reader
    from projections import ProjectionRunner, SqliteStore, all_views
    from projections.postgres_store import PostgresStore
    from projections.store import ViewStore

    app = build_incident_app(settings)  # its routing policy holds the sites of KUZET_SITES_PATH
    views = all_views(app.routing.sites, settings.canteen_min_k)
    store: ViewStore
    if settings.read_model_url:
        store = await PostgresStore.connect(settings.read_model_url,
                                            timeout_s=settings.connect_timeout_s)
    else:
        store = SqliteStore(settings.ensure_data_dir() / "views.sqlite")
    runner = ProjectionRunner(build_log_reader(app), store, views, batch=settings.batch_size)
    await runner.setup()
    return runner


def _run(coro: Any) -> Any:
    """Run `coro`, turning projection errors into the CLI's one-line `KuzetError`."""
    from kuzet.errors import KuzetError
    from projections.errors import ProjectionError

    try:
        return asyncio.run(coro)
    except ProjectionError as exc:
        raise KuzetError(str(exc)) from None


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


@projections_app.command("run")
def run(config: ConfigOpt = None,
        metrics_port: Annotated[int, typer.Option(help="Serve /metrics here (0: off).")] = 0
        ) -> None:
    """Follow the notification log into every view until stopped (a standby while another
    instance holds the lease: docs/deployment.md, Standbys)."""
    async def main() -> None:
        from kuzet.health import Standing, following

        settings = load_settings(config)
        runner = await build_runner(settings)
        from projections.metrics import LagMetrics

        on_lag = LagMetrics().update  # also on the health port's /metrics
        if metrics_port:
            from prometheus_client import start_http_server

            start_http_server(metrics_port)
        standing = Standing()  # /readyz: "standby" until this one holds the lease
        health, report = following("projections", settings.health_port, on_lag, standing)
        from follow import lead
        from kuzet.wiring import build_lease

        async def follow(stop: asyncio.Event) -> None:
            await runner.run(stop, on_lag=report)

        try:  # one instance active (the lease holder); the others wait as standbys
            await lead(standing.watch(build_lease(settings, "projections", read_models=True)),
                       follow, _stop_on_signals(), poll_s=settings.lease_poll_s)
        finally:
            await runner.store.close()
            if health is not None:
                health.stop()
    _run(main())


@projections_app.command("rebuild")
def rebuild(name: Annotated[str, typer.Argument(help="A view, or `all` (one read of the log "
                                                   "for every view).")],
            config: ConfigOpt = None) -> None:
    """Replay the whole log into a fresh table for view NAME and swap it in atomically."""
    async def main() -> None:
        runner = await build_runner(load_settings(config))
        try:
            done = await runner.rebuild_all() if name == "all" else [await runner.rebuild(name)]
        finally:
            await runner.store.close()
        for r in done:
            console.print(f"rebuilt {r.view}: {r.rows} rows at position {r.position} in "
                          f"{r.seconds:.2f}s ({r.position / max(r.seconds, 1e-9):,.0f} "
                          f"events/s); digest {r.digest[:16]}")
    _run(main())


@projections_app.command("verify")
def verify(name: str, config: ConfigOpt = None) -> None:
    """Prove view NAME equals a replay of the log up to its position (content digests)."""
    async def main() -> bool:
        runner = await build_runner(load_settings(config))
        try:
            v = await runner.verify(name)
        finally:
            await runner.store.close()
        console.print(f"{v.view} at position {v.position}: live {v.live[:16]} replay "
                      f"{v.replayed[:16]} → {'[green]equal' if v.equal else '[red]DIFFERENT'}")
        return v.equal
    if not _run(main()):
        raise typer.Exit(1)


@projections_app.command("lag")
def lag(config: ConfigOpt = None) -> None:
    """Positions each view is behind the log head, and when `projections run` last reported
    (what the API judges a view's freshness by: docs/api.md, Freshness)."""
    async def main() -> tuple[dict[str, int], Any]:
        runner = await build_runner(load_settings(config))
        try:
            return dict(await runner.lag()), await runner.store.freshness("board")
        finally:
            await runner.store.close()
    behind, fresh = _run(main())
    for view, count in behind.items():
        console.print(f"{view}: {count}")
    age = fresh.heartbeat_age_s
    state = ("never reported" if age is None else
             f"{'stopped' if fresh.stopped else 'last reported'} {age:.0f} s ago")
    console.print(f"projections run: {state}", highlight=False)


def relay(config: ConfigOpt = None) -> None:
    """Publish every incident event to Kafka (full stream and minimised per-agency topics); a
    standby while another instance holds the lease (docs/deployment.md, Standbys)."""
    from domain.kinds import Agency
    from domain.topics import APPEAL_STATUS, INCIDENT_EVENTS, agency_topic
    from eventstore.positions import StoreCursor
    from follow import lead
    from kuzet.kafka import client_options, ensure_topics
    from kuzet.wiring import build_incident_app, build_lease, build_log_reader, build_positions
    from streams.relay import AiokafkaPublisher, Relay, RelayConfig

    settings = load_settings(config)

    async def main() -> None:
        topics = [INCIDENT_EVENTS, APPEAL_STATUS, *(agency_topic(a) for a in Agency)]
        await ensure_topics(settings.bootstrap_servers, topics, settings.kafka_partitions,
                            timeout_s=settings.connect_timeout_s,
                            options=client_options(settings))
        publisher = AiokafkaPublisher(settings.bootstrap_servers, client_options(settings))
        await publisher.start()
        # personal values stay sealed (the stored form)
        reader = build_log_reader(build_incident_app(settings), stored_form=True)
        positions = build_positions(settings)
        _adopt_file_position(positions, settings)
        the_relay = Relay(reader, reader, publisher, StoreCursor(positions, RELAY),
                          RelayConfig(source=settings.relay_source))
        from kuzet.health import Standing, following, report_lag

        standing = Standing()  # /readyz: "standby" until this one holds the lease
        health, on_lag = following("relay", settings.health_port, standing=standing)
        stop = _stop_on_signals()
        lag_task = asyncio.create_task(report_lag(the_relay.lag, on_lag, stop))
        try:  # one instance active (the lease holder); the others wait as standbys
            await lead(standing.watch(build_lease(settings, RELAY)), the_relay.run, stop,
                       poll_s=settings.lease_poll_s)
        finally:
            lag_task.cancel()
            await publisher.stop()
            positions.close()
            if health is not None:
                health.stop()
    _run(main())


RELAY = "relay"
"""The relay's row in `kuzet_positions` and its lease's name."""


def _adopt_file_position(positions: Any, settings: Settings) -> None:
    """Migration: a relay that kept its position in `<data_dir>/relay-position.json` (before
    positions moved to the event store) continues from it, once; the file is then unused."""
    from streams.relay import FilePosition

    path = settings.data_dir / "relay-position.json"
    if path.exists() and positions.adopt(RELAY, FilePosition(path).load()):
        console.print(f"relay: adopted the position in {path} into kuzet_positions; the file "
                      "is no longer read and may be deleted", highlight=False)


def event_schemas(out: Annotated[Path, typer.Option(help="Folder to write into.")] =
                  Path("docs/schemas")) -> None:
    """Write a JSON Schema per relayed event type (generated from the event classes) and for
    the records Kuzet reads: detections, source health, dead letters (from the contract)."""
    from api.sdl import schema_sdl
    from domain.record_schemas import record_schemas
    from kuzet.wiring import load_rule_set
    from streams.asyncapi import asyncapi_yaml
    from streams.schemas import event_schemas

    out.mkdir(parents=True, exist_ok=True)
    schemas = {**event_schemas(), **record_schemas()}
    for kind, schema in schemas.items():
        (out / f"{kind}.json").write_text(json.dumps(schema, indent=2) + "\n")
    document = out.parent / "asyncapi.yaml"
    document.write_text(asyncapi_yaml())
    sdl = out.parent / "schema.graphql"
    sdl.write_text(schema_sdl(load_rule_set(load_settings(None))))
    console.print(f"wrote {len(schemas)} schemas to {out}, {document} and {sdl}")


def print_views(settings: Settings, out: Console) -> None:
    """Catch the views up and print each agency's rows (the demo summary calls this)."""
    async def main() -> dict[str, dict[str, Any]]:
        runner = await build_runner(settings)
        try:
            await runner.catch_up()
            return {name: await runner.rows(name) for name in runner.views}
        finally:
            await runner.store.close()
    for name, rows in _run(main()).items():
        table = Table(title=f"{name} view ({len(rows)} rows)")
        for col in ("kind/meal", "status", "site", "detail"):
            table.add_column(col)
        for row in sorted(rows.values(), key=lambda r: json.dumps(r, sort_keys=True)):
            detail = {k: row[k] for k in ("subject", "district", "contractor", "school",
                                          "attendance", "evidence_count", "time_to_clear_s")
                      if row.get(k) is not None}
            table.add_row(row.get("kind") or row.get("meal", ""), row.get("status", row.get(
                "day", "")), str(row.get("site_id")), json.dumps(detail))
        out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(projections_app, name="projections")
    app.command()(relay)
    app.command("event-schemas")(event_schemas)
