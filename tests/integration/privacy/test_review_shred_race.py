"""A subject shred racing another process that seals the same subject, SQLite and PostgreSQL.

Two `IncidentApp`s on one database stand for two processes. The shred plans from the key
references (which incidents hold the subject's values); the other process commits a new
incident of the subject after that planning read and before the keys are destroyed. Every
incident whose values were sealed under the destroyed key before it died must be in the
erasure: it gets `PersonalDataErased` (its views are scrubbed) and its own snapshot and note
keys are destroyed with the subject's.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from audit.retention import shred_subject
from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.erasure import incident_identities
from domain.incident import incident_id_for
from domain.kinds import Kind
from domain.privacy import SHREDDED
from eventstore.keystore import KeyStore
from tests.helpers import T0, det
from tests.integration.privacy.conftest import RULES, keystore_of
from tests.integration.privacy.test_keystore import PLATE


def open_with_snapshot(app: IncidentApp, episode: int) -> uuid.UUID:
    """A plate-match incident with a snapshot and a note, opened as the correlator does."""
    key = "plate_match:plate=A123BC02"
    detection = det("plate_match", attributes={"plate": "A123BC02"},
                     snapshot={"uri": f"s3://ev/{episode}.jpg", "sha256": "0" * 64})
    applied = app.apply(OpenIncident(key, Kind.PLATE_MATCH, episode,
                                     incident_id_for(key, episode), (detection,), None, T0), T0)
    assert applied is not None and applied.snapshot is not None
    incident_id = applied.snapshot.episode.incident_id
    app.add_note(incident_id, text=f"note {episode}", by="op-1", at=T0)
    return incident_id


class OtherProcessCommitsAfterPlanning:
    """The shredding process's real key store; right after its first reference lookup (the
    shred's planning read) the other process opens a new incident of the same plate, a real
    commit to the same database. Only the timing is arranged: every call reaches the store."""

    def __init__(self, keys: KeyStore, other: IncidentApp) -> None:
        self._keys, self._other = keys, other
        self.raced: uuid.UUID | None = None

    def refs(self, key_ids: Collection[str]) -> dict[str, list[str]]:
        found = self._keys.refs(key_ids)
        if self.raced is None:
            self.raced = open_with_snapshot(self._other, episode=1)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._keys, name)


def test_an_incident_sealed_while_a_shred_plans_is_erased_with_it(
        sealed_env: dict[str, str], sealed_app: IncidentApp) -> None:
    other = IncidentApp(sealed_env, RULES)
    try:
        first = open_with_snapshot(sealed_app, episode=0)
        keys = keystore_of(sealed_app)
        racing = OtherProcessCommitsAfterPlanning(keys, other)
        done = shred_subject(sealed_app, racing, "plate:A123BC02",  # type: ignore[arg-type]
                             reason="request 4/2026", actor="operator:dpo", at=T0)
        raced = racing.raced
        assert done is not None and raced is not None
        assert set(done.incidents) == {str(first), str(raced)}
        assert keys.live_keys([PLATE]) == []
        for incident_id in (first, raced):
            assert keys.live_keys(incident_identities(incident_id)) == [], incident_id
            incident = sealed_app.incident(incident_id)
            assert incident.subject == {"plate": SHREDDED}
            names = [type(e).__name__ for e in sealed_app.history(incident_id)]
            assert "PersonalDataErased" in names, incident_id
            notes = [e.text for e in sealed_app.history(incident_id)
                     if type(e).__name__ == "NoteAdded"]
            assert notes == [SHREDDED], incident_id
        assert keys.pending_erasures() == []
    finally:
        other.close()
