"""Chaos tier, the poison part (issue 10): each hostile record of the issue, published
mid-stream among valid detections to a real `kuzet worker` on the embedded broker, on SQLite and
PostgreSQL. Outcome: the worker never dies or restarts, the incidents and evidence are those of
an undisturbed run of the valid records, and every hostile record is in the DLQ with a reason
and the stage that refused it (none lost, none duplicated).
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.application import IncidentApp
from domain.detection import parse_detection
from domain.topics import DETECTIONS, DETECTIONS_DLQ
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.commands.core import publish_records
from kuzet.kafka import read_topic
from kuzet.settings import load_settings
from kuzet.stack import LocalStack
from streams.engine import CorrelationEngine
from tests.helpers import default_rules, record
from tests.hostile import BOM, encode
from tests.integration.stack_helpers import drained

pytestmark = [pytest.mark.broker, pytest.mark.slow]
RULES = default_rules()
TIMEOUT = 120
REUSED = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


def _hostile(now: datetime) -> list[tuple[str, bytes]]:
    """(what, raw) for every example of issue 10, with the stage expected to refuse it."""
    plain = record(at=now, site="poison-site")
    return [
        ("route", encode(record(source="\ud800", at=now))),
        ("route", encode(record("plate_match", at=now, attributes={"plate": "AB\ud800"}))),
        ("route", encode({**plain, "observed_at": "0001-01-01T00:00:00+00:00"})),
        ("route", encode({**plain, "observed_at": "9999-12-31T23:59:59+00:00"})),
        ("route", encode(record(at=now + timedelta(days=3 * 365)))),
        ("route", encode(record(at=now - timedelta(days=3 * 365)))),
        ("route", encode(record(at=now, attributes={"score": float("nan")}))),
        ("route", encode(record("plate_match", at=now, attributes={"plate": "!!! ---"}))),
        ("route", BOM + encode(record(at=now))),
        ("correlate", encode(record("plate_match", source="cam-x", at=now, det_id=REUSED,
                                    attributes={"plate": "ZZ 999 Z"}))),
    ]


def _valid(now: datetime) -> list[bytes]:
    out = []
    for site in range(6):
        for i in range(8):
            out.append(encode(record("fire", source=f"cam-{site}-{i % 3}", site=f"site-{site}",
                                     at=now, seconds=-i * 0.5)))
    for i in range(3):  # the plate whose id is reused later with other content
        out.append(encode(record("plate_match", source=f"cam-p{i}", at=now, seconds=-i,
                                 det_id=REUSED if i == 0 else None,
                                 attributes={"plate": "A 123 BC"})))
    return out


async def _reference(valid: list[bytes], now: datetime) -> dict[str, frozenset[str]]:
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.popo"}, RULES)
    engine = CorrelationEngine(app, RULES)
    await engine.process(0, [(parse_detection(v), i) for i, v in enumerate(valid)], now)
    await engine.drain(now)
    engine.close()
    return {i.incident_key: frozenset(i.evidence_ids) for i in app.incidents()}


def _evidence(env: dict[str, str]) -> dict[str, frozenset[str]]:
    app = IncidentApp(env, RULES)
    try:
        return {i.incident_key: frozenset(i.evidence_ids) for i in app.incidents()}
    finally:
        app.close()


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalStack]:
    store = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    with EmbeddedBroker(free_port(), tmp_path / "broker.log") as broker:
        settings = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                                 kafka_url=broker.bootstrap_servers, event_store_url=store,
                                 consumer_group=f"g-{uuid.uuid4().hex[:8]}",
                                 evidence_interval_s=0.5, tick_interval_s=0.5,
                                 privacy_pepper="chaos-pepper-not-a-secret")
        with LocalStack(settings) as running:
            yield running


def publish(stack: LocalStack, values: list[bytes]) -> None:
    asyncio.run(publish_records(stack.bootstrap, [(b"k", v) for v in values], DETECTIONS))


def _wait(predicate, what: str, worker) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert worker.poll() is None, f"the worker died ({worker.returncode}) before {what}"
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _dead_letter_counts(stack: LocalStack) -> dict[tuple[str, str], int]:
    """`kuzet_stream_dead_letters_total` as the worker's /metrics serves it."""
    import re
    import urllib.request

    with urllib.request.urlopen(stack.health_url("worker", "/metrics"), timeout=5) as answer:
        text = answer.read().decode()
    pattern = r'kuzet_stream_dead_letters_total\{reason="(\w+)",stage="(\w+)"\} ([0-9.]+)'
    return {(stage, reason): int(float(n)) for reason, stage, n in re.findall(pattern, text)}


def test_every_hostile_record_mid_stream_is_dead_lettered_and_nothing_stops(
        stack: LocalStack) -> None:
    now = datetime.now(UTC)
    valid, hostile = _valid(now), _hostile(now)
    expected = asyncio.run(_reference(valid, now))
    worker = stack.spawn("worker", ["worker"])
    route_stage = [raw for stage, raw in hostile if stage == "route"]
    [conflicting] = [raw for stage, raw in hostile if stage == "correlate"]
    # first the records the reused id's first content belongs to (its plate goes to another
    # correlation partition than the conflicting one, so "first" must mean first durable)...
    first, rest = valid[-3:], valid[:-3]
    publish(stack, first)
    env = stack.settings.event_store_env()
    _wait(lambda: REUSED in _evidence(env).get("plate_match:plate=A123BC", ()),
          "the reused id's first content as evidence", worker)
    # ...then every hostile record mid-stream, each between valid ones
    stream: list[bytes] = [conflicting]
    step = len(rest) // len(route_stage)
    for i, raw in enumerate(route_stage):
        stream += [*rest[i * step:(i + 1) * step], raw]
    stream += rest[len(route_stage) * step:]
    publish(stack, stream)
    _wait(lambda: _evidence(env) == expected, "the undisturbed run's incidents", worker)

    def letters() -> list[dict[str, object]]:
        return [json.loads(v) for v in asyncio.run(read_topic(stack.bootstrap, DETECTIONS_DLQ))]

    _wait(lambda: len(letters()) >= len(hostile), "every hostile record in the DLQ", worker)
    _wait(lambda: drained(stack.bootstrap, stack.settings.consumer_group),
          "both hops' commits at the end of their topics (nothing more in flight)", worker)
    got = letters()
    assert sorted(base64.b64decode(str(x["original"])) for x in got) == sorted(
        raw for _, raw in hostile)
    by_original = {base64.b64decode(str(x["original"])): x for x in got}
    for stage, raw in hostile:
        letter = by_original[raw]
        assert letter["reason"] and letter["stage"] == stage, letter
    assert _evidence(env) == expected
    assert _dead_letter_counts(stack) == {("route", "invalid"): 7, ("route", "skew"): 2,
                                          ("correlate", "conflict"): 1}
    assert worker.poll() is None and worker.returncode is None
    assert worker.send_signal(signal.SIGTERM) is None
