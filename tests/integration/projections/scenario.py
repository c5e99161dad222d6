"""The demo scenario plus a waste incident, canteen counts and operator actions, in a real store."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from domain.application import IncidentApp
from domain.detection import parse_detection
from domain.routing import SiteDirectory, load_sites
from kuzet.scenario import demo_records
from streams.engine import CorrelationEngine
from tests.helpers import default_rules, record

RULES = default_rules()
SITES: SiteDirectory = load_sites(tomllib.loads(
    (Path(__file__).parents[3] / "examples" / "sites.toml").read_text()))
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PERSONAL = ("W-1042", "A123BC02", "A 123 BC 02", "subject", "incident_key", "snapshot",
            "s3://evidence")


def _extra(now: datetime) -> list[dict]:
    out = [record("garbage_overflow", source="cam-30", site="yard-3", at=now, seconds=-50 + i)
           for i in range(3)]
    out += [record("canteen_count", source="cam-18", site="school-12", at=now, seconds=-40 + i,
                   attributes={"count": 3, "meal": "breakfast"}) for i in range(2)]
    out += [record("face_match", source="cam-12", site="metro-2", at=now, seconds=1,
                   attributes={"subject_id": "W-1042", "similarity": 0.8},
                   snapshot={"uri": "s3://evidence/f1.jpg", "sha256": "0" * 64})]
    return out


async def build(app: IncidentApp) -> dict[str, UUID]:
    """Feed the scenario through the real engine, then operators act; returns ids by key."""
    engine = CorrelationEngine(app, RULES, evidence_interval=timedelta(0))
    dets = []
    for _, raw in demo_records(NOW):
        try:
            dets.append(parse_detection(raw))
        except Exception:
            continue
    dets += [parse_detection(json.dumps(r).encode()) for r in _extra(NOW)]
    await engine.process(0, [(d, d.detection_id) for d in dets[:-1]], NOW)
    await engine.process(0, [(dets[-1], "late")], NOW + timedelta(seconds=10))
    await engine.tick(NOW + timedelta(seconds=11))
    await engine.drain(NOW + timedelta(seconds=12))
    engine.close()
    ids = {i.incident_key: i.id for i in app.incidents()}
    t = NOW + timedelta(seconds=30)
    fire, waste = ids["fire:site=market-7"], ids["garbage_overflow:site=yard-3"]
    app.acknowledge(fire, by="op-1", at=t)
    app.dispatch(fire, unit="fire-brigade-4", by="op-1", at=t)
    app.resolve(fire, resolution="extinguished", by="op-1", at=t + timedelta(minutes=9))
    app.assign(ids["face_match:subject=W-1042"], assignee="op-2", by="op-1", at=t)
    app.add_note(ids["plate_match:plate=A123BC02"], text="plate A 123 BC 02 seen", by="op-2",
                 at=t)
    app.acknowledge(waste, by="op-3", at=t)
    app.resolve(waste, resolution="collected", by="op-3", at=t + timedelta(minutes=40))
    app.close_incident(waste, by="op-3", at=t + timedelta(minutes=41))
    return ids
