"""Core commands: broker, worker, publish, incidents, up, demo, bench."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kuzet.settings import load_settings

__all__ = ["register"]

console = Console()
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (section [kuzet]).")
]


def broker(
    config: ConfigOpt = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu) in the foreground."""
    from kuzet.broker import EmbeddedBroker

    settings = load_settings(config, embedded_broker_port=port)
    with EmbeddedBroker(settings.embedded_broker_port) as running:
        console.print(f"broker listening on [bold]{running.bootstrap_servers}[/] (Ctrl-C stops)")
        while True:
            time.sleep(3600)


def register(app: typer.Typer) -> None:
    app.command()(broker)
