"""`kuzet topics create`: Kuzet's topics on an existing Kafka cluster, from the settings.

Partitions from KUZET_KAFKA_PARTITIONS, replication min(3, brokers) unless given, and with 3
replicas `min.insync.replicas` 2 and no unclean leader election; the raw work queues get their
`retention.ms` (`kuzet.kafka.TRANSIENT_RETENTION_MS`). Topics that exist are left as they are
(the table says so): change them with the cluster's own tools.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kuzet.settings import load_settings

__all__ = ["register"]

console = Console()
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings TOML file.")]
topics_app = typer.Typer(help="Kuzet's Kafka topics.", no_args_is_help=True)


@topics_app.command("create")
def create(
    config: ConfigOpt = None,
    partitions: Annotated[int | None, typer.Option(
        help="Partitions per topic (default KUZET_KAFKA_PARTITIONS).", min=1)] = None,
    replication: Annotated[int | None, typer.Option(
        help="Replication factor (default min(3, brokers)).", min=1)] = None,
) -> None:
    """Create every topic Kuzet uses where missing, at KUZET_KAFKA_URL."""
    from kuzet.broker import kuzet_topics
    from kuzet.kafka import TRANSIENT_RETENTION_MS, client_options, describe_topics, ensure_topics

    settings = load_settings(config)
    bootstrap = settings.bootstrap_servers
    wanted = kuzet_topics()
    created = asyncio.run(ensure_topics(bootstrap, wanted,
                                        partitions or settings.kafka_partitions,
                                        timeout_s=settings.connect_timeout_s,
                                        replication=replication,
                                        options=client_options(settings)))
    described = asyncio.run(describe_topics(bootstrap, wanted, client_options(settings)))
    table = Table("topic", "", "partitions", "replicas", "min.insync", "retention")
    for topic in wanted:
        if topic not in described:
            table.add_row(topic, "not described", "?", "?", "?", "?")
            continue
        parts, replicas, configs = described[topic]
        retention = configs.get("retention.ms", str(TRANSIENT_RETENTION_MS.get(topic, "")))
        table.add_row(topic, "created" if topic in created else "exists", str(parts),
                      str(replicas), configs.get("min.insync.replicas", "?"),
                      _days(retention))
    console.print(table)


def _days(ms: str) -> str:
    try:
        value = int(ms)
    except ValueError:
        return ms or "?"
    return "unlimited" if value < 0 else f"{value / 86_400_000:g} d"


def register(app: typer.Typer) -> None:
    app.add_typer(topics_app, name="topics")
