"""The chaos tier's harness: a real local stack, seeded faults, and the figures to quote.

Nothing is a double: the stack is `kuzet.stack.LocalStack` (the supervised embedded broker and
real `kuzet worker`, `projections run` and `relay` subprocesses, restarted by the stack's own
supervision after each kill), records go through the detectors' `KafkaPublisher`, and the
outcome is read from the event store. The reference is an undisturbed run of the same records
through the same correlation engine in one process (`reference`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from detectors.errors import PublisherError
from detectors.publisher import KafkaPublisher, PublisherOptions
from domain.application import IncidentApp
from domain.detection import Detection, validate_detection_dict
from kuzet.commands.api import with_dev_secret
from kuzet.settings import Settings
from kuzet.stack import LocalStack
from kuzet.wiring import build_incident_app, load_rule_set
from streams.engine import CorrelationEngine

__all__ = ["Figures", "health", "incidents", "reference", "running_stack", "sites_wave",
           "store_outcome", "wait_until"]

TIMEOUT_S = 120.0


def sites_wave(rng: random.Random, wave: int, sites: int, now: datetime) -> list[Detection]:
    """`sites` fire sites of their own (3 cameras, 4-6 hits each within seconds) and as many
    fights seen by a patrol camera without a site (2-4 hits: source-keyed, correlated by the
    route hop directly): every record of a wave settles within the wave (no candidate waits
    for a later one)."""
    out = []
    for s in range(sites):
        site = f"w{wave}-site-{s}"
        for i in range(rng.randint(4, 6)):
            out.append(validate_detection_dict({
                "detection_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "source_id": f"{site}-cam-{i % 3}", "source_kind": "camera", "kind": "fire",
                "confidence": round(rng.uniform(0.8, 0.99), 3),
                "observed_at": now.replace(microsecond=0).isoformat(), "site_id": site,
            }))
        for _ in range(rng.randint(2, 4)):
            out.append(validate_detection_dict({
                "detection_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "source_id": f"{site}-patrol", "source_kind": "camera", "kind": "fight",
                "confidence": round(rng.uniform(0.8, 0.99), 3),
                "observed_at": now.replace(microsecond=0).isoformat(),
            }))
    rng.shuffle(out)
    return out


async def _fold(detections: list[Detection], settings: Settings, now: datetime
                ) -> dict[str, frozenset[str]]:
    rules = load_rule_set(settings)
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.popo"}, rules)
    engine: CorrelationEngine[Any] = CorrelationEngine(app, rules)
    await engine.process(0, [(d, None) for d in detections], now)
    await engine.drain(now)
    engine.close()
    return {i.incident_key: frozenset(i.evidence_ids) for i in app.incidents()}


def reference(detections: list[Detection], settings: Settings, now: datetime
              ) -> dict[str, frozenset[str]]:
    """The undisturbed outcome: incident key -> evidence detection ids."""
    return asyncio.run(_fold(detections, settings, now))


@dataclass
class Outcome:
    incidents: dict[str, frozenset[str]]
    evidence_events: int
    duplicate_evidence: int
    """Detection ids recorded as evidence more than once within one incident's history."""


def incidents(settings: Settings) -> dict[str, frozenset[str]]:
    """Incident key -> evidence detection ids, as the event store has them now."""
    app = build_incident_app(settings)
    try:
        return {i.incident_key: frozenset(i.evidence_ids) for i in app.incidents()}
    finally:
        app.close()


def store_outcome(settings: Settings) -> Outcome:
    app = build_incident_app(settings)
    try:
        incidents, events, dupes = {}, 0, 0
        for incident in app.incidents():
            incidents[incident.incident_key] = frozenset(incident.evidence_ids)
            ids = [d for e in app.history(incident.id) for d in getattr(e, "detection_ids", [])]
            events += len(ids)
            dupes += len(ids) - len(set(ids))
        return Outcome(incidents, events, dupes)
    finally:
        app.close()


@dataclass
class Figures:
    """What the lead quotes: faults injected, records, lost, duplicates."""

    store: str
    faults: dict[str, int] = field(default_factory=dict)
    records: int = 0
    acked: int = 0
    dropped_by_publisher: int = 0
    incidents: int = 0
    lost: int = 0
    duplicates: int = 0
    extra_incidents: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds from the start to the end of each phase (where the tier's time goes)."""

    def phase(self, name: str, started: float) -> None:
        self.phases[name] = round(time.monotonic() - started, 1)

    def fault(self, kind: str) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1

    def line(self) -> str:
        return (f"chaos[{self.store}]: faults injected {sum(self.faults.values())} "
                f"({', '.join(f'{k} {v}' for k, v in sorted(self.faults.items()))}); "
                f"records {self.records} (acked {self.acked}, publisher drops "
                f"{self.dropped_by_publisher}); incidents {self.incidents}; lost {self.lost}; "
                f"duplicates {self.duplicates}; extra incidents {self.extra_incidents}; "
                f"{self.seconds:.0f}s (phases at {self.phases})")


def health(stack: LocalStack, name: str, path: str = "/readyz") -> dict[str, Any] | None:
    """A child's health answer (its JSON, 200 or 503), or None while it does not answer."""
    try:
        with urllib.request.urlopen(stack.health_url(name, path), timeout=1) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read()))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@contextmanager
def running_stack(settings: Settings) -> Iterator[tuple[LocalStack, KafkaPublisher]]:
    """The stack (broker, worker, projections, relay, API) supervised as `kuzet up` does it,
    and a detectors' publisher pointed at its broker."""
    stack = LocalStack(settings, broker_port=_free_port())
    stack.start()
    stop = threading.Event()
    lines: list[str] = []

    def supervise() -> None:
        while not stop.wait(0.2):
            stack.supervise_once(lines.append)

    thread = threading.Thread(target=supervise, daemon=True)
    publisher = KafkaPublisher(stack.bootstrap, PublisherOptions(
        request_timeout_ms=2000, max_backoff_s=0.5, client_id="chaos")).start()
    try:
        with_dev_secret(stack)  # the API's token key, as `kuzet up` makes one
        stack.spawn("worker-0", ["worker"])
        stack.spawn("projections", ["projections", "run"])
        stack.spawn("relay", ["relay"])
        stack.spawn("api", ["api"])
        stack.wait_ready()
        thread.start()
        yield stack, publisher
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        with contextlib.suppress(PublisherError):
            publisher.close(timeout=5)
        stack.stop()


def _free_port() -> int:
    from kuzet.broker import free_port

    return free_port()
