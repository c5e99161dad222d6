"""`kuzet silence create|list|end`: silences and maintenance windows from a terminal.

A supervisor silences a camera, a site, a district or a kind for a while (`--minutes`, or
`--until` an instant), with a reason; detections it covers open no incident and are counted
on it (`domain.silences`); a camera silence also holds back that camera's health alerts.
Refusals (bad scope, window in the past, unknown or already ended silence) print one line and
exit 2.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from rich.console import Console

from kuzet.errors import KuzetError
from kuzet.settings import load_settings

if TYPE_CHECKING:
    from domain.silences import Silence

__all__ = ["register", "silence_line"]

console = Console()
silence_app = typer.Typer(help="Silence cameras, sites, districts or kinds for a while.",
                          no_args_is_help=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Settings TOML file.")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Supervisor id (default: OS user).")]


def silence_line(s: Silence, now: datetime) -> str:
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.by_kind.items())) or "none"
    return (f"{s.id} {s.scope.value}={s.value} {s.state(now)} "
            f"{s.starts_at.isoformat(timespec='seconds')} → "
            f"{s.until.isoformat(timespec='seconds')} by {s.author}: {s.reason} "
            f"(held back {s.count}: {kinds})")


def _instant(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise KuzetError(f"--until {text!r} is not an RFC 3339 instant") from None
    if at.tzinfo is None:
        raise KuzetError(f"--until {text!r} needs a UTC offset (e.g. +05:00)")
    return at


@silence_app.command("create")
def create(scope: Annotated[str, typer.Argument(help="camera, site, district or kind.")],
           value: Annotated[str, typer.Argument(help="The camera/site id, district or kind.")],
           reason: Annotated[str, typer.Option(help="Why (shown to operators).")],
           minutes: Annotated[int, typer.Option(help="How long, from now.")] = 60,
           until: Annotated[str | None, typer.Option(
               help="End instant (RFC 3339 with offset), instead of --minutes.")] = None,
           by: ByOpt = None, config: ConfigOpt = None) -> None:
    """Silence SCOPE=VALUE from now for --minutes (or --until)."""
    from domain.silences import InvalidSilence
    from kuzet.wiring import build_incident_app

    now = datetime.now(UTC)
    ends = _instant(until) if until is not None else now + timedelta(minutes=minutes)
    app = build_incident_app(load_settings(config))
    try:
        silence = app.create_silence(scope=scope, value=value, starts_at=now, ends_at=ends,
                                     by=by or getpass.getuser(), reason=reason, at=now)
    except InvalidSilence as exc:
        raise KuzetError(str(exc)) from None
    finally:
        app.close()
    console.print(silence_line(silence, now), highlight=False)


@silence_app.command("list")
def list_silences(past: Annotated[bool, typer.Option("--all", help="Ended ones too.")] = False,
                  config: ConfigOpt = None) -> None:
    """Silences not over yet (with --all: every one), earliest first."""
    from kuzet.wiring import build_incident_app

    now = datetime.now(UTC)
    app = build_incident_app(load_settings(config))
    try:
        found = app.silences(now, past=past)
    finally:
        app.close()
    for s in found:
        console.print(silence_line(s, now), highlight=False)
    if not found:
        console.print("no silences", highlight=False)


@silence_app.command("end")
def end(silence_id: Annotated[str, typer.Argument(help="The silence id.")],
        reason: Annotated[str, typer.Option(help="Why it ends early.")] = "",
        by: ByOpt = None, config: ConfigOpt = None) -> None:
    """End a silence early."""
    from domain.silences import SilenceError
    from kuzet.wiring import build_incident_app

    try:
        sid = UUID(silence_id)
    except ValueError:
        raise KuzetError(f"{silence_id!r} is not a silence id (a UUID)") from None
    now = datetime.now(UTC)
    app = build_incident_app(load_settings(config))
    try:
        silence = app.end_silence(sid, by=by or getpass.getuser(), reason=reason, at=now)
    except SilenceError as exc:
        raise KuzetError(str(exc)) from None
    finally:
        app.close()
    console.print(silence_line(silence, now), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(silence_app, name="silence")
