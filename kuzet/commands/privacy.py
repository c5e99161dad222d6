"""`kuzet privacy shred|retention|hold|release`: erasure of personal data, and legal holds.

`shred SUBJECT` (`plate:A123BC02`, `face:S7`) destroys the subject's key and the snapshot keys
of its incidents; `retention` destroys keys past their data class's retention (run it daily
from cron or a systemd timer; `--dry-run` lists what it would do). Both refuse or skip data of
incidents under legal hold (`hold` / `release`). Refusals and bad input exit 2.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from rich.console import Console

from kuzet.errors import KuzetError
from kuzet.settings import Settings, load_settings

if TYPE_CHECKING:
    from domain.application import IncidentApp
    from eventstore.keystore import KeyStore

__all__ = ["register"]

console = Console()
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Settings TOML file.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (stored in the clear; must not "
                                                         "name the subject).")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Operator id (default: the OS user).")]
privacy_app = typer.Typer(help="Personal data: crypto-shredding, retention, legal holds.",
                          no_args_is_help=True)


@contextmanager
def _stores(settings: Settings) -> Iterator[tuple[IncidentApp, KeyStore]]:
    """The incident application and its key store, or a one-line error if it does not seal."""
    from eventstore.keystore import PrivacyError
    from kuzet.wiring import build_incident_app

    try:
        app = build_incident_app(settings)
    except PrivacyError as exc:
        raise KuzetError(str(exc)) from None
    try:
        keys = getattr(app.factory, "keystore", None)
        if keys is None:
            raise KuzetError("the event store does not seal personal data (its factory has no "
                             "key store): nothing can be shredded")
        try:
            yield app, keys
        except PrivacyError as exc:
            raise KuzetError(str(exc)) from None
    finally:
        app.close()


def _operator(by: str | None) -> str:
    return by or getpass.getuser()


@privacy_app.command()
def shred(subject: Annotated[str, typer.Argument(help="plate:<PLATE> or face:<SUBJECT ID>")],
          reason: ReasonOpt, by: ByOpt = None, config: ConfigOpt = None) -> None:
    """Destroy a subject's data key (and its incidents' snapshot keys): its values read
    "shredded" everywhere from now on."""
    from audit.retention import shred_subject
    from domain.incident import operator

    settings = load_settings(config)
    with _stores(settings) as (app, keys):
        done = shred_subject(app, keys, subject, reason=reason, actor=operator(_operator(by)),
                             at=datetime.now(UTC), evidence=settings.data_dir / "evidence")
    if done is None:
        console.print("no personal data held for this subject: nothing to shred")
        return
    console.print(f"shredded {len(done.keys)} key(s) touching {len(done.incidents)} "
                  f"incident(s); erasure {done.erasure_id}; {len(done.deleted)} evidence "
                  "file(s) deleted")
    for kept in done.kept:
        console.print(f"evidence file not deleted (the next run retries): {kept}")


@privacy_app.command()
def retention(dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list.")] = False,
              config: ConfigOpt = None) -> None:
    """Shred keys older than KUZET_RETENTION_DAYS_<CLASS>, skipping incidents on legal hold."""
    from audit.retention import apply_retention

    settings = load_settings(config)
    with _stores(settings) as (app, keys):
        result = apply_retention(app, keys, settings.retention_days, at=datetime.now(UTC),
                                 dry_run=dry_run, evidence=settings.data_dir / "evidence")
    for key_id, incidents in result.held.items():
        console.print(f"kept {key_id}: legal hold on {', '.join(incidents)}")
    due = len(result.due) - len(result.held)
    verb = "would shred" if dry_run else "shredded"
    console.print(f"{verb} {due} key(s) past retention; {len(result.held)} kept by legal holds")
    if not dry_run:
        files = sum(len(s.deleted) for s in result.shreds)
        console.print(f"deleted {files} evidence file(s) of shredded snapshot keys")


def _hold(incident_id: str, reason: str, by: str | None, config: Path | None, *,
          place: bool) -> None:
    try:
        target = UUID(incident_id)
    except ValueError:
        raise KuzetError(f"incident id {incident_id!r} is not a UUID") from None
    with _stores(load_settings(config)) as (app, _):
        command = app.place_legal_hold if place else app.release_legal_hold
        incident = command(target, reason=reason, by=_operator(by), at=datetime.now(UTC))
    console.print(f"incident {incident.id}: legal hold {'placed' if place else 'released'} "
                  f"(version {incident.version})")


@privacy_app.command()
def hold(incident_id: str, reason: ReasonOpt, by: ByOpt = None,
         config: ConfigOpt = None) -> None:
    """Place a legal hold: the incident's personal data is kept past retention and shreds."""
    _hold(incident_id, reason, by, config, place=True)


@privacy_app.command()
def release(incident_id: str, reason: ReasonOpt, by: ByOpt = None,
            config: ConfigOpt = None) -> None:
    """Release a legal hold: retention applies again from its next run."""
    _hold(incident_id, reason, by, config, place=False)


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")
