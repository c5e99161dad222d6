"""Incident facts do not depend on arrival order: any permutation, chunking and redelivery of
the same detections, through the real correlation engine and store, gives the same incidents.

Compared: every field but processing timestamps (opened, SLA due, event times): evidence,
sources (the primary source first), site and location of the earliest observation, first and
last seen, subject, agencies, status, severity, and every evidence image (by sha256). Cross-site cases included: one wanted subject
on three cameras at three sites, one plate on two. SQLite (more examples) and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import IncidentApp
from domain.detection import Detection, Snapshot
from kuzet.settings import postgres_env
from streams.engine import CorrelationEngine
from tests.conftest import PG_ADMIN_URL
from tests.helpers import T0, default_rules, det

RULES = default_rules()
S = timedelta(seconds=1)
NOW = T0 + 40 * S


def _scenario() -> list[Detection]:
    fire = [det("fire", source=f"cam-{c}", site="market-1", conf=0.9, seconds=t,
                location={"lat": 43.25, "lon": 76.9 + t / 1000})
            for c, t in [("a", 0), ("b", 2), ("a", 4), ("b", 6), ("a", 8)]]
    face = [det("face_match", source=f"cam-{s}", site=f"site-{s}", conf=0.95, seconds=t,
                attributes={"subject_id": "W-7", "similarity": 0.9})
            for s, t in [("x", 1), ("y", 5), ("z", 9)]]
    plate = [det("plate_match", source=f"cam-{s}", site=f"road-{s}", conf=0.95, seconds=t,
                 attributes={"plate": "A777AA02"}) for s, t in [("p", 3), ("q", 7)]]
    return [replace(d, snapshot=Snapshot(f"file:///ev/{n}.jpg", f"{n:064x}"))
            for n, d in enumerate(fire + face + plate)]


SCENARIO = _scenario()


def _facts(app: IncidentApp) -> dict[str, dict[str, Any]]:
    out = {}
    for i in app.incidents():
        out[i.incident_key] = {
            "id": i.id, "kind": i.kind, "status": i.status, "severity": i.severity,
            "level": i.level, "site": i.site_id, "location": i.location,
            "primary": i.sources[0], "sources": set(i.sources), "evidence": i.evidence_ids,
            "first": i.first_seen_at, "last": i.last_seen_at, "subject": i.subject,
            "agencies": set(i.agencies), "late": i.late_evidence,
            "images": {s["sha256"] for s in i.snapshots},
        }
    return out


def _run(env: dict[str, str], chunks: list[list[Detection]]) -> dict[str, dict[str, Any]]:
    app = IncidentApp(env, RULES)
    engine: CorrelationEngine[str] = CorrelationEngine(app, RULES)

    async def feed() -> None:
        for chunk in chunks:
            await engine.process(0, [(d, d.detection_id) for d in chunk], NOW)
        await engine.drain(NOW)

    try:
        asyncio.run(feed())
        return _facts(app)
    finally:
        engine.close()
        app.close()


@st.composite
def arrivals(draw: st.DrawFn) -> list[list[Detection]]:
    """A permutation with some detections redelivered, cut into batches."""
    order = draw(st.permutations(SCENARIO))
    again = draw(st.lists(st.sampled_from(SCENARIO), max_size=6))
    stream = order + again
    cuts = sorted(draw(st.sets(st.integers(1, len(stream) - 1), max_size=4)))
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]


def _sqlite() -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory() as folder:
        yield {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
               "SQLITE_DBNAME": f"{folder}/events.sqlite"}


def _postgres() -> Iterator[dict[str, str]]:
    name = f"kuzet_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_env(f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reference() -> dict[str, dict[str, Any]]:
    in_time_order = sorted(SCENARIO, key=lambda d: d.observed_at)
    for env in _sqlite():
        return _run(env, [in_time_order])
    raise AssertionError


REFERENCE = _reference()


def test_the_reference_run_has_the_expected_incidents() -> None:
    assert set(REFERENCE) == {"fire:site=market-1", "face_match:subject=W-7",
                              "plate_match:plate=A777AA02"}
    fire = REFERENCE["fire:site=market-1"]
    assert fire["first"] == T0 and fire["last"] == T0 + 8 * S and len(fire["evidence"]) == 5
    assert sum(len(r["images"]) for r in REFERENCE.values()) == len(SCENARIO)  # none lost
    face = REFERENCE["face_match:subject=W-7"]
    assert (face["site"], face["primary"], face["first"]) == ("site-x", "cam-x", T0 + 1 * S)


@pytest.mark.parametrize(("stores", "examples"), [(_sqlite, 12), (_postgres, 4)],
                         ids=["sqlite", "postgres"])
def test_any_order_chunking_and_redelivery_give_the_same_incidents(stores, examples) -> None:  # type: ignore[no-untyped-def]
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(arrivals())
    def check(chunks: list[list[Detection]]) -> None:
        for env in stores():
            assert _run(env, chunks) == REFERENCE

    check()
