"""`kuzet` command line: the composition root's entrypoint.

Each area registers its commands from its own module in `kuzet/commands/`; heavy imports
(faust, cv2, onnxruntime, strawberry) happen inside the commands, so `kuzet --help` is fast.
Known failures (bad settings, unreachable broker or database, invalid input) print one line,
not a traceback, and exit with status 2.
"""

from __future__ import annotations

import importlib
import sys

import click
import typer
from rich.console import Console

__all__ = ["app", "main"]

app = typer.Typer(
    name="kuzet",
    help="Kuzet: event-sourced incident management for city video analytics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

COMMAND_MODULES = (
    "kuzet.commands.core",
    "kuzet.commands.detect",
    "kuzet.commands.projections",
    "kuzet.commands.api",
    "kuzet.commands.audit",
    "kuzet.commands.privacy",
    "kuzet.commands.adapter",
)

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:  # an area not built yet
        if _exc.name != _name:
            raise
        continue
    _module.register(app)

_err = Console(stderr=True)


def _known_errors() -> tuple[type[BaseException], ...]:
    from domain.errors import DomainError
    from kuzet.broker import BrokerError
    from kuzet.errors import KuzetError
    from kuzet.kafka import KafkaUnreachable
    from kuzet.settings import SettingsError

    known: list[type[BaseException]] = [
        DomainError, BrokerError, KafkaUnreachable, SettingsError, KuzetError, OSError
    ]
    try:
        from eventsourcing.persistence import OperationalError, PersistenceError

        known += [PersistenceError, OperationalError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(known)


def main() -> None:
    try:
        result = app(standalone_mode=False)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _err.print("interrupted")
        sys.exit(130)
    except _known_errors() as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
        sys.exit(2)
    if isinstance(result, int) and result:
        sys.exit(result)
