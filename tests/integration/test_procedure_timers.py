"""A mandatory procedure step past its deadline escalates through the correlator's timers (the
same path as SLA escalation), on the real engine and a real SQLite event store: once per step,
never for a step people settled, and each next deadline is picked up from the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from domain.application import IncidentApp
from domain.commands import Acknowledge, CompleteStep
from domain.procedures import load_procedures
from streams.engine import CorrelationEngine
from tests.helpers import default_rules, det

RULES = default_rules()
S = timedelta(seconds=1)


def test_overdue_steps_escalate_once_through_the_timers(tmp_path: Path) -> None:
    procedures = load_procedures(resources.files("domain").joinpath("procedures.toml").read_text())
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                       "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}, RULES,
                      procedures=procedures)
    engine: CorrelationEngine[None] = CorrelationEngine(app, RULES)
    now = datetime.now(UTC).replace(microsecond=0)
    dets = [det(kind, source=f"cam-{kind}", site=f"yard-{kind}", conf=0.95, at=now, seconds=-i)
            for kind in ("weapon", "fire") for i in range(3)]

    async def run() -> dict[str, list[str]]:
        await engine.process(0, [(d, None) for d in dets], now)
        await engine.drain(now + S)
        ids = {i.kind: i.id for i in app.incidents()}
        for incident_id in ids.values():  # acknowledged: the SLA is met, the steps are not
            app.execute(incident_id, Acknowledge(), by="alice", at=now + 2 * S)
        # weapon: verify_on_camera due +30 s, call_police +90 s (bob does it at +50 s);
        # fire: verify_on_camera due +60 s, call_fire_service +120 s (nobody does either)
        for second in (29, 31, 32, 40):
            await engine.tick(now + second * S)
        app.execute(ids["weapon"], CompleteStep("call_police"), by="bob", at=now + 50 * S)
        for second in (59, 61, 62, 91, 92, 119, 121, 122, 130):
            await engine.tick(now + second * S)
        engine.close()
        return {kind: [type(e).__name__ for e in app.repository.event_store.get(i)]
                for kind, i in ids.items()}

    events = asyncio.run(run())
    assert events["weapon"].count("StepOverdue") == 1, events
    assert events["fire"].count("StepOverdue") == 2, events
    stored = {i.kind: i for i in app.incidents()}
    assert stored["weapon"].overdue_steps == {"verify_on_camera"}
    assert stored["fire"].overdue_steps == {"verify_on_camera", "call_fire_service"}
    assert (stored["weapon"].level, stored["fire"].level) == (1, 2)
    assert {i.status.value for i in stored.values()} == {"ACKNOWLEDGED"}
