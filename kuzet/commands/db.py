"""`kuzet db migrate`: create every store's tables (idempotent, safe to run concurrently)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kuzet.settings import load_settings

__all__ = ["register"]

console = Console()
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings TOML file.")]
db_app = typer.Typer(help="The stores' schema.", no_args_is_help=True)


@db_app.command("migrate")
def migrate(config: ConfigOpt = None) -> None:
    """Create the tables of the event store (with its chain and key tables), the read models
    and the adapter state where missing, under the schema lock (`kuzet.schema`). Every
    process also runs this step at start; running it first is never required, only tidy."""
    from kuzet.schema import migrate as run

    for target in run(load_settings(config)):
        console.print(f"{target.what}: {target.shown} ready", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
