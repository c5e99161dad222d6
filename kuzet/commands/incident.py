"""`kuzet incident ack|dispatch|resolve|false-alarm|reopen|close|escalate|note|assign ID`,
`kuzet incident verify|reject-verification ID` (two-person verification) and
`kuzet incident step list|done|skip ID [STEP]` (the procedure's checklist),
`kuzet incident merge ID MERGED_ID` and `kuzet incident split ID DETECTION_ID...`.

The operator commands from a terminal (a supervisor's close and escalate included), each a
typed command (`domain.commands`) carried out by `IncidentApp.execute` with the operator's id
(`--by`, default the OS user) and, optionally, the version the operator saw
(`--expected-version`: a concurrent change then refuses the command). A refusal (illegal
transition, version conflict, unknown incident, bad input) prints one line and exits 2.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from rich.console import Console

from kuzet.errors import KuzetError
from kuzet.settings import load_settings

if TYPE_CHECKING:
    from domain.application import IncidentApp
    from domain.commands import OperatorCommand
    from domain.incident import Incident

__all__ = ["register"]

console = Console()
incident_app = typer.Typer(help="Act on one incident as an operator or supervisor.",
                           no_args_is_help=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Settings TOML file.")]
IdArg = Annotated[str, typer.Argument(help="The incident id.")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Operator id (default: the OS user).")]
VersionOpt = Annotated[int | None, typer.Option("--expected-version",
                                                help="Refuse if the incident changed since.")]


def _id(incident_id: str) -> UUID:
    try:
        return UUID(incident_id)
    except ValueError:
        raise KuzetError(f"{incident_id!r} is not an incident id (a UUID)") from None


def _run(incident_id: str, command: OperatorCommand, by: str | None, expected: int | None,
         config: Path | None) -> None:
    from domain.errors import DomainError
    from kuzet.wiring import build_incident_app

    iid = _id(incident_id)
    app = build_incident_app(load_settings(config))
    try:
        incident = app.execute(iid, command, by=by or getpass.getuser(),
                               at=datetime.now(UTC), expected_version=expected)
    except (DomainError, ValueError) as exc:
        raise KuzetError(str(exc)) from None
    finally:
        app.close()
    console.print(f"{incident.id} {incident.status.value} level {incident.level} "
                  f"v{incident.version}", highlight=False)


@incident_app.command("ack")
def ack(incident_id: IdArg, by: ByOpt = None, expected_version: VersionOpt = None,
        config: ConfigOpt = None) -> None:
    """Acknowledge an open or reopened incident."""
    from domain.commands import Acknowledge

    _run(incident_id, Acknowledge(), by, expected_version, config)


@incident_app.command("assign")
def assign(incident_id: IdArg, assignee: Annotated[str, typer.Option(help="Who handles it.")],
           by: ByOpt = None, expected_version: VersionOpt = None,
           config: ConfigOpt = None) -> None:
    """Assign the incident to an operator."""
    from domain.commands import Assign

    _run(incident_id, Assign(assignee), by, expected_version, config)


@incident_app.command("dispatch")
def dispatch(incident_id: IdArg, unit: Annotated[str, typer.Option(help="The unit sent.")],
             by: ByOpt = None, expected_version: VersionOpt = None,
             config: ConfigOpt = None) -> None:
    """Dispatch a unit to an acknowledged incident."""
    from domain.commands import Dispatch

    _run(incident_id, Dispatch(unit), by, expected_version, config)


@incident_app.command("resolve")
def resolve(incident_id: IdArg, resolution: Annotated[str, typer.Option(help="What was done.")],
            by: ByOpt = None, expected_version: VersionOpt = None,
            config: ConfigOpt = None) -> None:
    """Resolve an acknowledged or dispatched incident."""
    from domain.commands import Resolve

    _run(incident_id, Resolve(resolution), by, expected_version, config)


@incident_app.command("false-alarm")
def false_alarm(incident_id: IdArg, reason: Annotated[str, typer.Option(help="Why.")],
                by: ByOpt = None, expected_version: VersionOpt = None,
                config: ConfigOpt = None) -> None:
    """Mark an active incident a false alarm."""
    from domain.commands import MarkFalseAlarm

    _run(incident_id, MarkFalseAlarm(reason), by, expected_version, config)


@incident_app.command("reopen")
def reopen(incident_id: IdArg, reason: Annotated[str, typer.Option(help="Why.")],
           by: ByOpt = None, expected_version: VersionOpt = None,
           config: ConfigOpt = None) -> None:
    """Reopen a resolved, auto-resolved or false-alarm incident."""
    from domain.commands import Reopen

    _run(incident_id, Reopen(reason), by, expected_version, config)


@incident_app.command("close")
def close(incident_id: IdArg, by: ByOpt = None, expected_version: VersionOpt = None,
          override: Annotated[str | None, typer.Option(
              help="A supervisor's reason to close with mandatory steps still open.")] = None,
          config: ConfigOpt = None) -> None:
    """Close a resolved, auto-resolved or false-alarm incident (it leaves the board)."""
    from domain.commands import Close

    _run(incident_id, Close(override), by, expected_version, config)


@incident_app.command("verify")
def verify(incident_id: IdArg, by: ByOpt = None, expected_version: VersionOpt = None,
           config: ConfigOpt = None) -> None:
    """Second operator: confirm an acknowledged incident of a two-person kind."""
    from domain.commands import Verify

    _run(incident_id, Verify(), by, expected_version, config)


@incident_app.command("reject-verification")
def reject_verification(incident_id: IdArg, reason: Annotated[str, typer.Option(help="Why.")],
                        by: ByOpt = None, expected_version: VersionOpt = None,
                        config: ConfigOpt = None) -> None:
    """Second operator: disagree; the incident becomes a false alarm naming both people."""
    from domain.commands import RejectVerification

    _run(incident_id, RejectVerification(reason), by, expected_version, config)


step_app = typer.Typer(help="The incident's checklist (its procedure's steps).",
                       no_args_is_help=True)
StepArg = Annotated[str, typer.Argument(help="The step's key (see `step list`).")]


@step_app.command("list")
def step_list(incident_id: IdArg, config: ConfigOpt = None) -> None:
    """Print the checklist: each step, mandatory or not, its deadline and outcome."""
    from domain.errors import DomainError
    from kuzet.wiring import build_incident_app

    app = build_incident_app(load_settings(config))
    try:
        incident = app.incident(_id(incident_id))
    except DomainError as exc:
        raise KuzetError(str(exc)) from None
    finally:
        app.close()
    console.print(f"{incident.id} procedure {incident.procedure or 'none'}", highlight=False)
    for step in incident.steps:
        done = incident.step_outcomes.get(step["key"], {})
        due = incident.step_due_at(step["key"])
        console.print(
            f"  {step['key']} {'mandatory' if step['mandatory'] else 'optional'} "
            f"due {due.isoformat() if due else '-'} {done.get('outcome') or 'pending'}"
            f"{' by ' + done['actor'] if done else ''}"
            f"{' (overdue)' if step['key'] in incident.overdue_steps else ''}", highlight=False,
            soft_wrap=True)


@step_app.command("done")
def step_done(incident_id: IdArg, step: StepArg, by: ByOpt = None,
              expected_version: VersionOpt = None, config: ConfigOpt = None) -> None:
    """Mark a checklist step done."""
    from domain.commands import CompleteStep

    _run(incident_id, CompleteStep(step), by, expected_version, config)


@step_app.command("skip")
def step_skip(incident_id: IdArg, step: StepArg,
              reason: Annotated[str, typer.Option(help="Why it is not needed.")],
              by: ByOpt = None, expected_version: VersionOpt = None,
              config: ConfigOpt = None) -> None:
    """Skip a checklist step, saying why (closing accepts it)."""
    from domain.commands import SkipStep

    _run(incident_id, SkipStep(step, reason), by, expected_version, config)


@incident_app.command("escalate")
def escalate(incident_id: IdArg, reason: Annotated[str, typer.Option(help="Why.")],
             level: Annotated[int | None, typer.Option(help="Target level (default: one up, "
                                                             "at most 3).")] = None,
             by: ByOpt = None, expected_version: VersionOpt = None,
             config: ConfigOpt = None) -> None:
    """A supervisor's manual escalation: level and severity up, status unchanged."""
    from domain.commands import Escalate
    from domain.errors import DomainError
    from kuzet.wiring import build_incident_app

    if level is None:
        app = build_incident_app(load_settings(config))
        try:
            level = app.incident(_id(incident_id)).level + 1
        except DomainError as exc:
            raise KuzetError(str(exc)) from None
        finally:
            app.close()
    _run(incident_id, Escalate(level, reason), by, expected_version, config)


@incident_app.command("note")
def note(incident_id: IdArg, text: Annotated[str, typer.Argument(help="The note.")],
         by: ByOpt = None, expected_version: VersionOpt = None,
         config: ConfigOpt = None) -> None:
    """Add an operator's note (stored sealed: it may name people)."""
    from domain.commands import AddNote

    _run(incident_id, AddNote(text), by, expected_version, config)


# --- merge and split (issue 14 item 4) ---------------------------------------------------


def _two(action: str, run: Callable[[IncidentApp, UUID], tuple[Incident, Incident]],
         incident_id: str, config: Path | None) -> None:
    from domain.errors import DomainError
    from kuzet.wiring import build_incident_app

    iid = _id(incident_id)
    app = build_incident_app(load_settings(config))
    try:
        first, second = run(app, iid)
    except (DomainError, ValueError) as exc:
        raise KuzetError(str(exc)) from None
    finally:
        app.close()
    console.print(f"{action}: {first.id} {first.status.value} v{first.version} "
                  f"({first.evidence_count} detections); {second.id} {second.status.value} "
                  f"v{second.version} ({second.evidence_count})", highlight=False)


@incident_app.command("merge")
def merge(incident_id: Annotated[str, typer.Argument(help="The incident that stays.")],
          merged_id: Annotated[str, typer.Argument(help="The incident merged into it.")],
          reason: Annotated[str, typer.Option(help="Why (free text).")] = "",
          by: ByOpt = None, expected_version: VersionOpt = None,
          config: ConfigOpt = None) -> None:
    """A supervisor merges MERGED_ID into INCIDENT_ID: it takes the evidence and routing, the
    merged one becomes MERGED and its later detections land in INCIDENT_ID."""
    from domain.commands import Merge

    command = Merge(_id(merged_id), reason)
    _two("merged", lambda app, iid: app.merge(
        iid, command, by=by or getpass.getuser(), at=datetime.now(UTC),
        expected_version=expected_version), incident_id, config)


@incident_app.command("split")
def split(incident_id: IdArg,
          detection_ids: Annotated[list[str], typer.Argument(help="Detection ids to move.")],
          reason: Annotated[str, typer.Option(help="Why (free text).")] = "",
          by: ByOpt = None, expected_version: VersionOpt = None,
          config: ConfigOpt = None) -> None:
    """A supervisor moves evidence out of an incident into a new one (printed second)."""
    from domain.commands import Split

    command = Split(tuple(detection_ids), reason)
    _two("split", lambda app, iid: app.split(
        iid, command, by=by or getpass.getuser(), at=datetime.now(UTC),
        expected_version=expected_version), incident_id, config)


def register(app: typer.Typer) -> None:
    incident_app.add_typer(step_app, name="step")
    app.add_typer(incident_app, name="incident")
