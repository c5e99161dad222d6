"""Chaos tier: kill -9 of the worker, projections, relay and API, and of the embedded broker,
while detections flow; on SQLite and on PostgreSQL.

Four waves of fire detections, and fights of site-less patrol cameras (source-keyed:
correlated by the route hop without the second hop), each wave its own sites and cameras, so
every record of a wave settles within it, go through the detectors' publisher into a stack supervised as `kuzet up` does it:

- wave 0: the worker is killed (SIGKILL) once a seeded number of the wave's incidents is in
  the store; the stack restarts it and the new worker redelivers from the committed offsets;
- wave 1: projections, relay and API are killed (seeded order) while the wave flows;
- between waves 1 and 2, once both are in the store: the embedded broker is killed; its
  supervisor restarts it (memory storage: empty) and recreates the topics; wave 2 is handed to
  the publisher at once, which retries until the *new* broker acknowledges it, and the worker
  must notice the recreated topics and read them from the start (KUZET_OFFSET_RESET=earliest);
- wave 3: the worker is killed again at a seeded point.

Outcome: the same incidents with the same evidence as an undisturbed run of the same records
(the same engine in one process), no detection id recorded twice, projections and relay caught
up with the log head, every process alive. Each run prints its figures (faults injected,
records, lost, duplicates). Seeded: KUZET_CHAOS_SEED reruns another schedule.
"""

from __future__ import annotations

import os
import random
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.detection import Detection
from kuzet.broker import free_port
from kuzet.settings import Settings, load_settings
from kuzet.stack import LocalStack
from tests.chaos.harness import (
    Figures,
    health,
    incidents,
    reference,
    running_stack,
    sites_wave,
    store_outcome,
    wait_until,
)

pytestmark = [pytest.mark.chaos, pytest.mark.broker, pytest.mark.slow]

SEED = int(os.environ.get("KUZET_CHAOS_SEED", "20261203"))
SITES_PER_WAVE = 12


def _settings(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    extra: dict[str, str] = {}
    if store == "postgres":
        url = request.getfixturevalue("postgres_url")
        extra = {"event_store_url": url, "read_model_url": url,
                 "privacy_pepper": "chaos-pepper-0123456789"}
    return load_settings(environ={}, data_dir=str(tmp_path / "data"),
                         embedded_broker_port=free_port(), api_port=free_port(),
                         consumer_group=f"chaos-{store}-{SEED}", evidence_interval_s=0.5,
                         tick_interval_s=0.5, kafka_partitions=4,
                         consumer_session_timeout_s=4.0, **extra)


def _publish(publisher, wave: list[Detection]) -> None:  # type: ignore[no-untyped-def]
    for detection in wave:
        publisher.publish_detection(detection)


def _kill(stack: LocalStack, name: str, figures: Figures) -> None:
    """SIGKILL one child and wait until the stack's supervision has started it again."""
    child = stack.children[name]
    before = child.restarts
    os.kill(child.proc.pid, signal.SIGKILL)
    figures.fault(f"{name.split('-', maxsplit=1)[0]} kill -9")
    wait_until(f"{name} restarted", lambda: child.restarts > before)


def _has(settings: Settings, expected: dict[str, frozenset[str]]) -> bool:
    now = incidents(settings)
    return all(now.get(key) == ids for key, ids in expected.items())


def _caught_up(stack: LocalStack, name: str) -> bool:
    answer = health(stack, name)
    return bool(answer) and answer["status"] == "ready" and not any(answer["lag"].values())


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_kills_and_a_broker_restart_lose_and_duplicate_nothing(
        store: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    started = time.monotonic()
    rng = random.Random(f"{SEED}-{store}")
    settings = _settings(store, tmp_path, request)
    now = datetime.now(UTC)
    waves = [sites_wave(rng, w, SITES_PER_WAVE, now) for w in range(4)]
    per_wave = [reference(wave, settings, now) for wave in waves]
    expected = reference([d for wave in waves for d in wave], settings, now)
    assert expected == {k: v for ref in per_wave for k, v in ref.items()}
    so_far = lambda n: {k: v for ref in per_wave[:n] for k, v in ref.items()}  # noqa: E731
    figures = Figures(store, records=sum(map(len, waves)))

    with running_stack(settings) as (stack, publisher):
        figures.phase("stack up", started)
        _publish(publisher, waves[0])
        k = rng.randint(1, SITES_PER_WAVE - 1)
        wait_until(f"{k} incidents", lambda: len(incidents(settings)) >= k)
        _kill(stack, "worker-0", figures)

        _publish(publisher, waves[1])
        for name in rng.sample(["projections", "relay", "api"], 3):
            _kill(stack, name, figures)
        wait_until("waves 0-1 in the store", lambda: _has(settings, so_far(2)))
        figures.phase("waves 0-1", started)

        assert stack.broker is not None and stack.broker.pid is not None
        os.kill(stack.broker.pid, signal.SIGKILL)
        figures.fault("broker kill -9")
        _publish(publisher, waves[2])  # held until the restarted broker acknowledges it
        broker = stack.broker
        wait_until("the broker restarted", lambda: broker.restarts == 1)
        wait_until("waves 0-2 in the store", lambda: _has(settings, so_far(3)))
        figures.phase("broker restart, wave 2", started)

        _publish(publisher, waves[3])
        k = rng.randint(1, SITES_PER_WAVE - 1) + len(so_far(3))
        wait_until(f"{k} incidents", lambda: len(incidents(settings)) >= k)
        _kill(stack, "worker-0", figures)
        wait_until("every wave in the store", lambda: _has(settings, expected))
        figures.phase("wave 3", started)
        wait_until("projections at the log head", lambda: _caught_up(stack, "projections"))
        wait_until("relay at the log head", lambda: _caught_up(stack, "relay"))
        wait_until("the API serving", lambda: (health(stack, "api") or {}).get("status")
                   == "ready")

        outcome = store_outcome(settings)
        alive = {name: child.proc.poll() is None and health(stack, name, "/healthz") is not None
                 for name, child in stack.children.items()}
        wait_until("the publisher's queue acknowledged", lambda: publisher.pending == 0)
        figures.acked, figures.dropped_by_publisher = publisher.sent, publisher.dropped

    expected_ids = {d for ids in expected.values() for d in ids}
    got_ids = {d for ids in outcome.incidents.values() for d in ids}
    figures.incidents = len(outcome.incidents)
    figures.lost = len(expected_ids - got_ids)
    figures.duplicates = outcome.duplicate_evidence
    figures.extra_incidents = len(set(outcome.incidents) - set(expected))
    figures.seconds = time.monotonic() - started
    print(figures.line())

    assert outcome.incidents == expected
    assert figures.lost == 0 and figures.duplicates == 0 and figures.extra_incidents == 0
    assert figures.acked == figures.records and figures.dropped_by_publisher == 0
    assert all(alive.values()), alive
