"""Citizens' appeals end to end: `kuzet appeals import` + camera detections + `kuzet worker`.

A reported dump at yard-3 and a camera's dump detections at yard-3 are one incident (routed to
ZhKKh) that records the appeal (`AppealAttached`); the appeal's text is stored sealed (not in
the SQLite files in the clear); an appeal about a broken light is an incident of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.application import IncidentApp
from domain.incident import Incident
from domain.topics import APPEAL_STATUS, DETECTIONS
from kuzet.commands.core import publish_records
from kuzet.kafka import read_topic
from kuzet.stack import LocalStack, settings_env
from tests.helpers import default_rules, record
from tests.integration.stack_helpers import local_stack, start_worker, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]
RULES = default_rules()
TEXT = "Свалка строительного мусора за домом 12, уже неделю"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with local_stack(tmp_path) as running:
        yield running


def _incidents(stack: LocalStack) -> dict[str, Incident]:
    app = IncidentApp(stack.settings.event_store_env(), RULES)
    try:
        return {i.incident_key: i for i in app.incidents()}
    finally:
        app.close()


def test_a_reported_dump_and_a_detected_dump_are_one_incident(stack: LocalStack,
                                                              tmp_path: Path) -> None:
    start_worker(stack)
    now = datetime.now(UTC)
    appeals = tmp_path / "appeals.jsonl"
    appeals.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in [
        {"appeal_id": "A-118734", "category": "illegal_dump", "text": TEXT, "site_id": "yard-3",
         "submitted_at": (now - timedelta(minutes=3)).isoformat()},
        {"appeal_id": "A-118790", "category": "broken_light", "text": "street light out",
         "location": {"lat": 43.24, "lon": 76.95}},
        {"appeal_id": "A-118791"},  # no category: refused, listed, skipped
    ]) + "\n", encoding="utf-8")
    env = {**os.environ, **settings_env(stack.settings, stack.bootstrap)}
    done = subprocess.run([sys.executable, "-m", "kuzet", "appeals", "import", str(appeals)],
                          check=False, env=env, capture_output=True, timeout=60)
    assert done.returncode == 1 and b"published 2 appeal(s)" in done.stdout
    assert b":3: invalid appeal: category" in done.stderr
    cameras = [record("illegal_dump", source="cam-yard-3", site="yard-3", conf=0.9, at=now,
                      seconds=-i) for i in range(3)]
    asyncio.run(publish_records(stack.bootstrap, [(r["source_id"].encode(),
                                                   json.dumps(r).encode()) for r in cameras],
                                DETECTIONS))
    wait_for(stack, lambda: (i := _incidents(stack).get("illegal_dump:site=yard-3")) is not None
          and i.evidence_count == 4, "the dump incident with the appeal and three detections")
    incidents = _incidents(stack)
    dump = incidents["illegal_dump:site=yard-3"]
    assert dump.appeals == {"A-118734": "illegal_dump"} and "zhkkh" in dump.agencies
    assert dump.sources[0] == "appeal-A-118734"  # the appeal was the earliest observation
    light = incidents["citizen_report:source=appeal-A-118790"]
    assert light.appeals == {"A-118790": "broken_light"} and "zhkkh" in light.agencies
    for stored in Path(stack.settings.data_dir).glob("events.sqlite*"):
        assert TEXT.encode() not in stored.read_bytes(), stored  # sealed at rest

    # the portal's feed: the appeal joined an OPEN incident, then an operator acknowledged it
    stack.spawn("relay", ["relay"])
    app = IncidentApp(stack.settings.event_store_env(), RULES)
    try:
        app.acknowledge(dump.id, by="op-7", at=datetime.now(UTC))
    finally:
        app.close()

    def feed() -> list[tuple[str, str]]:
        values = asyncio.run(read_topic(stack.bootstrap, APPEAL_STATUS))
        return [(b["appeal_id"], b["status"]) for b in map(json.loads, values)
                if b["incident_id"] == str(dump.id)]

    wait_for(stack, lambda: feed() == [("A-118734", "OPEN"), ("A-118734", "ACKNOWLEDGED")],
          "the appeal's status on kuzet.appeals.status.v1")
