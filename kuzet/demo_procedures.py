"""The demo's procedure and two-person workflows (issue 14 items 2-3), one printed line each.

After the scenario's incidents are in, people work two of them through the same typed
commands the API and CLI carry out: the market fire's checklist is worked to closing, and the
wanted face is dispatched only after a second operator verified it (the refusals on the way
are part of what is shown).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from rich.console import Console

    from domain.application import IncidentApp
    from kuzet.settings import Settings

__all__ = ["exercise_procedures"]

FIRE_KEY = "fire:site=market-7"
WANTED_KEY = "face_match:subject=W-1042"


def exercise_procedures(settings: Settings, rows: list[dict[str, Any]],
                        console: Console) -> bool:
    """Work the checklist of the market fire and dispatch the wanted face with two people;
    print one line per workflow; False if either did not go as the rules say."""
    from kuzet.wiring import build_incident_app

    ids = {r["key"]: UUID(r["id"]) for r in rows}
    if FIRE_KEY not in ids or WANTED_KEY not in ids:
        console.print("[red]procedure / two-person demo skipped: its incidents are missing[/]")
        return False
    app = build_incident_app(settings)
    try:
        return (_procedure(app, ids[FIRE_KEY], console)
                & _two_person(app, ids[WANTED_KEY], console))
    finally:
        app.close()


def _execute(app: IncidentApp, incident_id: UUID, command: Any, by: str) -> Any:
    """`app.execute`, again on a fresh load if the worker wrote the incident meanwhile."""
    from domain.errors import VersionConflict

    for attempt in range(3):
        try:
            return app.execute(incident_id, command, by=by, at=datetime.now(UTC))
        except VersionConflict:
            if attempt == 2:
                raise
    return None


def _procedure(app: IncidentApp, incident_id: UUID, console: Console) -> bool:
    from domain.commands import Acknowledge, Close, CompleteStep, Resolve, SkipStep
    from domain.procedures import ProcedureIncomplete

    def run(command: Any, by: str) -> Any:
        return _execute(app, incident_id, command, by)

    incident = app.incident(incident_id)
    mandatory = [s["key"] for s in incident.steps if s["mandatory"]]
    optional = [s["key"] for s in incident.steps if not s["mandatory"]]
    run(Acknowledge(), "aigerim")
    run(CompleteStep(mandatory[0]), "aigerim")
    run(Resolve("extinguished by the market's staff"), "aigerim")
    try:
        run(Close(), "supervisor-dana")
        refused = False
    except ProcedureIncomplete:
        refused = True
    for key in mandatory[1:]:
        run(CompleteStep(key), "aigerim")
    for key in optional:
        run(SkipStep(key, "owner already on site"), "aigerim")
    closed = run(Close(), "supervisor-dana")
    ok = refused and closed.status.value == "CLOSED" and not closed.outstanding_steps()
    console.print(f"{'[green]✓' if ok else '[red]✗'}[/] procedure completed: {closed.procedure} "
                  f"on {FIRE_KEY} ({incident_id}): {len(mandatory)} mandatory step(s) done, "
                  f"{len(optional)} skipped with a reason; closing before that was refused; "
                  f"status {closed.status.value}", highlight=False)
    return ok


def _two_person(app: IncidentApp, incident_id: UUID, console: Console) -> bool:
    from domain.commands import Acknowledge, Dispatch, Verify
    from domain.procedures import NotVerified, SamePerson

    def run(command: Any, by: str) -> Any:
        return _execute(app, incident_id, command, by)

    run(Acknowledge(), "aigerim")
    refusals = []
    for command, by in ((Dispatch("patrol-12"), "aigerim"), (Verify(), "aigerim")):
        try:
            run(command, by)
        except (NotVerified, SamePerson) as exc:
            refusals.append(exc.code)
    run(Verify(), "nurlan")
    sent = run(Dispatch("patrol-12"), "aigerim")
    ok = refusals == ["NOT_VERIFIED", "SAME_PERSON"] and sent.status.value == "DISPATCHED"
    console.print(f"{'[green]✓' if ok else '[red]✗'}[/] two-person dispatch: {WANTED_KEY} "
                  f"({incident_id}) acknowledged by {sent.acknowledged_by}, verified by "
                  f"{sent.verified_by}, dispatched patrol-12 (refused before: "
                  f"{', '.join(refusals) or 'nothing'})", highlight=False)
    return ok
