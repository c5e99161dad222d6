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
    "kuzet.commands.cameras",
    "kuzet.commands.appeals",
    "kuzet.commands.incident",
    "kuzet.commands.silence",
    "kuzet.commands.db",
    "kuzet.commands.topics",
    "kuzet.commands.archive",
    "kuzet.commands.search",
    "kuzet.commands.rules",
)



@app.callback()
def _root(log_format: str | None = typer.Option(
        None, "--log-format", metavar="console|json",
        help="Log lines readable (console) or one JSON object each (json); KUZET_LOG_FORMAT.",
)) -> None:
    """Configure logging once for whichever command runs (`kuzet.logs`)."""
    import os

    from kuzet.logs import configure_logging
    from kuzet.settings import SettingsError, load_settings

    if log_format is not None:
        if log_format not in ("console", "json"):
            raise typer.BadParameter("console or json", param_hint="--log-format")
        os.environ["KUZET_LOG_FORMAT"] = log_format  # children (`kuzet up`) log alike
    try:
        settings = load_settings()
    except SettingsError:  # the command itself reports bad settings, in one line
        return
    configure_logging(settings.log_format, settings.log_level)


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


def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    """`click.exceptions.<name>` and, where typer vendors its own click, typer's twin."""
    found: list[type[BaseException]] = [getattr(click.exceptions, name)]
    try:
        from typer._click import exceptions as vendored
    except ImportError:  # pragma: no cover  (typer releases that use click itself)
        return tuple(found)
    twin = getattr(vendored, name, None)
    return (*found, twin) if twin is not None else tuple(found)


LONG_RUNNING = frozenset({"worker", "broker", "up", "demo", "relay", "api", "detect",
                          "projections run", "adapter webhook", "adapter inbound"})
"""Commands that run until stopped: SIGTERM and SIGINT stop them alike, with exit status 0
(`kuzet.lifecycle`), from their first instruction on (a stop during start-up included)."""


def _long_running(argv: list[str]) -> bool:
    args = argv[1:]
    if args and args[0].startswith("--log-format"):  # the root option comes first
        args = args[1:] if "=" in args[0] else args[2:]
    words = [a for a in args[:2] if not a.startswith("-")]
    return bool(words) and (words[0] in LONG_RUNNING or " ".join(words[:2]) in LONG_RUNNING)


def main() -> None:
    from kuzet.lifecycle import Stopping, raise_on_signals

    interrupted: tuple[type[BaseException], ...] = (*_click_classes("Abort"), KeyboardInterrupt)
    long_running = _long_running(sys.argv)
    if long_running:
        raise_on_signals()  # each command may install its own handlers later, same meaning
    try:
        result = app(standalone_mode=False)
    except Stopping:
        if not long_running:
            _err.print("interrupted")
        sys.exit(0 if long_running else 130)
    except _click_classes("ClickException") as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except interrupted:
        _err.print("interrupted")
        sys.exit(130)
    except _known_errors() as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(2)
    if isinstance(result, int) and result:
        sys.exit(result)


if __name__ == "__main__":  # `python -m kuzet.cli`
    main()
