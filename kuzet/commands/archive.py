"""`kuzet archive run`: every valid detection into the searchable, sealed detection archive.

Follows `kuzet.detections.v1` (and the relayed incident events, for the links detection →
incident) in its own consumer group `<KUZET_CONSUMER_GROUP>.archive`, writes batches of
KUZET_ARCHIVE_BATCH to `KUZET_ARCHIVE_URL` (default: the event store's PostgreSQL database, or
`<data_dir>/archive.sqlite`), seals personal values under the event store's keys, drops days
past KUZET_ARCHIVE_RETENTION_DAYS. Stops cleanly on SIGTERM/SIGINT after the batch in hand.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from kuzet.errors import KuzetError
from kuzet.settings import Settings, load_settings

if TYPE_CHECKING:
    from archive.reader import Searcher
    from archive.store import ArchiveStore
    from domain.application import IncidentApp
    from eventstore.keystore import KeyStore

__all__ = ["archive_parts", "register", "searcher"]

console = Console()
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Settings TOML file.")]
archive_app = typer.Typer(help="The detection archive (search, backtests).",
                          no_args_is_help=True)


@contextmanager
def archive_parts(settings: Settings) -> Iterator[tuple[IncidentApp, KeyStore, ArchiveStore]]:
    """The incident application (for its key store), its key store, and the archive."""
    from archive.errors import ArchiveError
    from archive.store import open_archive
    from kuzet.wiring import build_incident_app

    app = build_incident_app(settings)
    try:
        keys = getattr(app.factory, "keystore", None)
        if keys is None:
            raise KuzetError("the event store does not seal personal data (no key store): the "
                             "archive would hold plates in the clear")
        try:
            store = open_archive(settings.archive_location)
        except ArchiveError as exc:
            raise KuzetError(str(exc)) from None
        try:
            yield app, keys, store
        finally:
            store.close()
    finally:
        app.close()


def pepper_of(settings: Settings) -> bytes:
    return settings.privacy_env()["PRIVACY_PEPPER"].encode()


@contextmanager
def searcher(settings: Settings) -> Iterator[tuple[Searcher, IncidentApp]]:
    from archive.reader import Searcher
    from eventstore.sealing import Sealer

    with archive_parts(settings) as (app, keys, store):
        yield Searcher(store, Sealer(keys), pepper_of(settings)), app


@archive_app.command("run")
def run(config: ConfigOpt = None) -> None:
    """Archive every valid detection until SIGTERM/SIGINT."""
    from archive.consumer import ArchiveConsumer, Upkeep
    from archive.ingest import Archiver
    from domain.topics import DETECTIONS, INCIDENT_EVENTS
    from eventstore.sealing import Sealer
    from kuzet.health import serve_health
    from kuzet.kafka import client_options, ensure_topics

    settings = load_settings(config)
    with archive_parts(settings) as (_, keys, store):
        archiver = Archiver(store, Sealer(keys), pepper_of(settings))
        consumer = ArchiveConsumer(
            settings.bootstrap_servers, archiver, keys, lambda: datetime.now(UTC),
            group_id=f"{settings.consumer_group}.archive", batch=settings.archive_batch,
            upkeep=Upkeep(retention_days=settings.archive_retention_days),
            client_options=client_options(settings))

        def ready() -> tuple[bool, dict[str, Any]]:
            return consumer.connected, vars(archiver.stats)

        async def main() -> None:
            await ensure_topics(settings.bootstrap_servers, [DETECTIONS, INCIDENT_EVENTS],
                                settings.kafka_partitions, options=client_options(settings))
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            console.print(f"archiving {DETECTIONS} at {settings.bootstrap_servers}")
            await consumer.run(stop)

        health = serve_health("archive run", settings.health_port, ready)
        try:
            asyncio.run(main())
        finally:
            if health is not None:
                health.stop()
        s = archiver.stats
        console.print(f"stopped: {s.records} records, {s.written} archived, {s.duplicates} "
                      f"repeats, {s.invalid} invalid, {s.refused} refused", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(archive_app, name="archive")
