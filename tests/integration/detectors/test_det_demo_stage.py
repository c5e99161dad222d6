"""The demo's detector stage: real models on shipped images and generated frames make exactly
the incidents the demo expects of them, through the real correlation engine and event store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.application import IncidentApp
from domain.kinds import Kind
from kuzet.demo_detectors import DEMO_SUBJECT, detector_stage
from streams.engine import CorrelationEngine
from tests.helpers import default_rules


async def test_stage_records_make_the_expected_incidents(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    stage = detector_stage(tmp_path / "detectors", now)
    assert stage is not None, "the models extra is part of the test install"
    kinds = sorted(d.kind.value for d in stage.records)
    assert kinds == ["crowd"] * 4 + ["face_match"] * 2 + ["person"] * 6
    matches = [d for d in stage.records if d.kind is Kind.FACE_MATCH]
    assert {d.attributes["subject_id"] for d in matches} == {DEMO_SUBJECT}
    assert min(d.confidence for d in matches) > 0.8  # the generated, shrunk, JPEG'd frame too
    rules = default_rules()
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                       "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}, rules)
    engine: CorrelationEngine[str] = CorrelationEngine(app, rules)
    try:
        await engine.process(0, [(d, d.detection_id) for d in stage.records], now)
        await engine.drain(now + timedelta(seconds=1))
        got = {i.incident_key: (str(i.kind), len(i.sources), i.status.value)
               for i in app.incidents()}
    finally:
        engine.close()
        app.close()
    assert got == {key: (want["kind"], want["sources"], want["status"])
                   for key, want in stage.expected.items()}
