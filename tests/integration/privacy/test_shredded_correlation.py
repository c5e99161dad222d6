"""The correlator after a shred: a shredded subject seen again is still correlated.

After a shred the store reads an incident's correlation key as `[shredded]`, so the store's
answers to the correlator must still name the key the correlator asked about (it keys its
cache by it); otherwise a refusal (an operator closed the incident meanwhile) would correct the
wrong cache entry and the subject's next detections would be dropped.
"""

from __future__ import annotations

from datetime import timedelta

from audit.retention import shred_subject
from domain.application import IncidentApp
from domain.kinds import Status
from domain.privacy import SHREDDED
from streams.engine import CorrelationEngine
from tests.helpers import T0, det
from tests.integration.privacy.conftest import RULES, keystore_of


def _plate(seconds: float) -> list:
    return [det("plate_match", source="cam-3", seconds=seconds, conf=0.9,
                attributes={"plate": "A 123 BC 02"})]


async def test_a_shredded_plate_seen_again_is_correlated_not_dropped(
        sealed_app: IncidentApp) -> None:
    app = sealed_app
    engine = CorrelationEngine(app, RULES, evidence_interval=timedelta(0))
    first = _plate(0)
    assert sorted(await engine.process(0, [(d, d.detection_id) for d in first], T0)) == \
        [first[0].detection_id]
    (incident,) = list(app.incidents())
    assert shred_subject(app, keystore_of(app), "plate:A123BC02", reason="request 1",
                         actor="operator:dpo", at=T0) is not None
    app.acknowledge(incident.id, by="op-1", at=T0 + timedelta(seconds=5))
    app.resolve(incident.id, resolution="stopped", by="op-1", at=T0 + timedelta(seconds=6))

    again = _plate(30)  # the engine's cache still holds the incident as open
    now = T0 + timedelta(seconds=31)
    settled = await engine.process(0, [(d, d.detection_id) for d in again], now)
    settled += await engine.drain(now)
    assert settled == [again[0].detection_id]
    current = app.incident(incident.id)
    assert current.status is Status.REOPENED and current.incident_key == SHREDDED
    assert again[0].detection_id in current.evidence_ids
    engine.close()
