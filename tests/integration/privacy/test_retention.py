"""Retention, legal holds and the erasure journal, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from audit.retention import (
    RETENTION_ACTOR,
    LegalHoldActive,
    apply_retention,
    record_pending,
    shred_subject,
)
from domain.application import IncidentApp
from domain.erasure import Erasure, InvalidErasure
from domain.privacy import SHREDDED
from tests.helpers import T0
from tests.integration.privacy.conftest import keystore_of
from tests.integration.privacy.test_keystore import PLATE, open_plate

DAYS = {"face": 30, "plate": 30, "snapshot": 30, "free_text": 365}
LATER = T0 + timedelta(days=400)  # every key made "now" is past retention then


def _erasures(app: IncidentApp) -> list[Erasure]:
    topics = ["domain.erasure:Erasure.PersonalDataShredded"]
    return [app.repository.get(n.originator_id)
            for n in app.recorder.select_notifications(1, 100, topics=topics)]


def test_retention_shreds_old_keys_but_skips_incidents_on_legal_hold(
        sealed_app: IncidentApp) -> None:
    app, keys = sealed_app, keystore_of(sealed_app)
    held, free = open_plate(app, "A 123 BC 02"), open_plate(app, "B 777 OO 01")
    app.add_note(held, text="seen at the depot", by="op-1", at=T0)
    app.place_legal_hold(held, reason="court case 12/2026", by="op-1", at=T0)

    assert apply_retention(app, keys, DAYS, at=T0 + timedelta(days=1)).due == []
    dry = apply_retention(app, keys, DAYS, at=LATER, dry_run=True)
    assert len(dry.due) == 3  # two plate keys, one free-text key (the held incident's note)
    assert sorted(v for vs in dry.held.values() for v in vs) == [str(held), str(held)]
    assert app.incident(free).subject == {"plate": "B 777 OO 01"}  # dry: nothing destroyed

    done = apply_retention(app, keys, DAYS, at=LATER)
    assert [set(s.incidents) for s in done.shreds] == [{str(free)}]
    assert app.incident(free).subject == {"plate": SHREDDED}
    assert app.incident(held).subject == {"plate": "A 123 BC 02"}
    (record,) = _erasures(app)
    assert (record.cause, record.actor) == ("retention", RETENTION_ACTOR)

    app.release_legal_hold(held, reason="case closed", by="op-1", at=T0)
    again = apply_retention(app, keys, DAYS, at=LATER)
    assert {k for s in again.shreds for k in s.keys.values()} == {"plate", "free_text"}
    assert app.incident(held).subject == {"plate": SHREDDED}
    assert [e.text for e in app.history(held) if type(e).__name__ == "NoteAdded"] == [SHREDDED]


def test_a_shred_touching_a_held_incident_is_refused_and_destroys_nothing(
        sealed_app: IncidentApp) -> None:
    app, keys = sealed_app, keystore_of(sealed_app)
    incident = open_plate(app)
    app.place_legal_hold(incident, reason="investigation 5", by="op-1", at=T0)
    with pytest.raises(LegalHoldActive, match=str(incident)):
        shred_subject(app, keys, "plate:A123BC02", reason="request 9", actor="operator:dpo",
                      at=T0)
    assert app.incident(incident).subject == {"plate": "A 123 BC 02"}
    assert _erasures(app) == [] and keys.pending_erasures() == []


def test_bad_requests_are_refused_before_anything_happens(sealed_app: IncidentApp) -> None:
    app, keys = sealed_app, keystore_of(sealed_app)
    incident = open_plate(app)
    for subject, reason in [("A123BC02", "request 9"), ("plate:A123BC02", ""),
                            ("plate:A123BC02", "owner of A 123 BC 02 asked")]:
        with pytest.raises(InvalidErasure):
            shred_subject(app, keys, subject, reason=reason, actor="operator:dpo", at=T0)
    assert shred_subject(app, keys, "face:nobody", reason="request 9", actor="operator:dpo",
                         at=T0) is None
    assert app.incident(incident).subject == {"plate": "A 123 BC 02"}


def test_an_erasure_journalled_before_a_crash_is_recorded_once_by_the_next_run(
        sealed_app: IncidentApp) -> None:
    """The crash is real in effect: the keys are destroyed and journalled by the key store,
    and the process 'dies' before the application records anything."""
    app, keys = sealed_app, keystore_of(sealed_app)
    incident = open_plate(app)
    (row,) = keys.live_keys([PLATE])
    erasure_id = str(uuid.uuid4())
    payload = {"keys": {row.key_id: "plate"}, "incidents": {str(incident): [row.key_id]},
               "cause": "request", "reason": "request 9", "actor": "operator:dpo",
               "at": T0.isoformat()}
    keys.shred([row.key_id], erasure_id, payload)
    assert app.incident(incident).subject == {"plate": SHREDDED}  # store: already unreadable
    assert [type(e).__name__ for e in app.history(incident)][-1] == "Opened"

    assert record_pending(app, keys) == 1
    assert record_pending(app, keys) == 0
    assert [type(e).__name__ for e in app.history(incident)][-1] == "PersonalDataErased"
    assert [str(e.id) for e in _erasures(app)] == [erasure_id]
    assert not app.record_erasure(erasure_id=erasure_id, keys=payload["keys"],
                                  incidents=payload["incidents"], cause="request",
                                  reason="request 9", actor="operator:dpo", at=T0)
