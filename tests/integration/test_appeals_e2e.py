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
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from domain.application import IncidentApp
from domain.incident import Incident
from domain.topics import APPEAL_STATUS, DETECTIONS
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.commands.core import publish_records
from kuzet.kafka import read_topic
from kuzet.settings import load_settings
from kuzet.stack import LocalStack, settings_env
from tests.helpers import default_rules, record

pytestmark = [pytest.mark.broker, pytest.mark.slow]
RULES = default_rules()
TEXT = "Свалка строительного мусора за домом 12, уже неделю"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with EmbeddedBroker(free_port(), tmp_path / "broker.log") as broker:
        settings = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                                 kafka_url=broker.bootstrap_servers,
                                 consumer_group=f"g-{uuid.uuid4().hex[:8]}",
                                 evidence_interval_s=0.5, tick_interval_s=0.5)
        with LocalStack(settings) as running:
            yield running


def _wait(stack: LocalStack, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if done():
            return
        for name, proc in stack.procs.items():
            assert proc.poll() is None, f"{name} exited with {proc.returncode}"
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def _ready(stack: LocalStack) -> bool:
    try:
        return httpx.get(stack.health_url("worker-0", "/readyz"), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _incidents(stack: LocalStack) -> dict[str, Incident]:
    app = IncidentApp(stack.settings.event_store_env(), RULES)
    try:
        return {i.incident_key: i for i in app.incidents()}
    finally:
        app.close()


def test_a_reported_dump_and_a_detected_dump_are_one_incident(stack: LocalStack,
                                                              tmp_path: Path) -> None:
    stack.spawn("worker-0", ["worker"])
    _wait(stack, lambda: _ready(stack), "the worker's /readyz")
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
    _wait(stack, lambda: (i := _incidents(stack).get("illegal_dump:site=yard-3")) is not None
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

    _wait(stack, lambda: feed() == [("A-118734", "OPEN"), ("A-118734", "ACKNOWLEDGED")],
          "the appeal's status on kuzet.appeals.status.v1")
