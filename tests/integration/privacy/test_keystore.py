"""The key store and the sealing mapper on SQLite and PostgreSQL (real databases, no doubles).

Two `IncidentApp`s on one database stand for two processes: each has its own key store
object, caches and connection pool.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import Any

import pytest

from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.erasure import DataClass, Identity, parse_subject
from domain.incident import incident_id_for
from domain.kinds import Kind
from domain.log import LogReader
from domain.privacy import SHREDDED, is_sealed
from eventstore.keystore import KeyStore, KeyStoreError
from eventstore.sealing import SealedLogReader, SealedValueError, Sealer, unseal
from tests.helpers import T0, det
from tests.integration.privacy.conftest import RULES, keystore_of, raw_files, stored_values

PLATE = parse_subject("plate:A123BC02")


def open_plate(app: IncidentApp, plate: str = "A 123 BC 02", episode: int = 0) -> uuid.UUID:
    """Open a plate-match incident through the application, as the correlator does."""
    key = f"plate_match:plate={plate.replace(' ', '')}"
    detection = det("plate_match", attributes={"plate": plate})
    decision = OpenIncident(key, Kind.PLATE_MATCH, episode, incident_id_for(key, episode),
                            (detection,), None, T0)
    applied = app.apply(decision, T0)
    assert applied is not None and applied.snapshot is not None
    return applied.snapshot.episode.incident_id


def _rows(env: dict[str, str], table: str) -> list[bytes]:
    return [v for t, v in stored_values(env) if t == table]


def test_one_live_key_per_identity_across_processes(sealed_env: dict[str, str]) -> None:
    apps = [IncidentApp(sealed_env, RULES) for _ in range(2)]
    try:
        stores = [keystore_of(a) for a in apps]
        found: list[str] = []

        def take(keys: KeyStore) -> None:
            found.append(keys.sealing_key(PLATE, None)[0])
        threads = [threading.Thread(target=take, args=(k,)) for k in stores * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(found)) == 1
        assert [k.key_id for k in stores[1].live_keys([PLATE])] == found[:1]
        assert stores[0].identity_hash(PLATE) == stores[1].identity_hash(PLATE)
        assert not [v for v in _rows(sealed_env, "privacy_keys") if b"A123BC02" in v]
    finally:
        for a in apps:
            a.close()


def test_values_are_sealed_with_references_and_stored_form_stays_sealed(
        sealed_app: IncidentApp) -> None:
    incident_id = open_plate(sealed_app)
    keys = keystore_of(sealed_app)
    (row,) = keys.live_keys([PLATE])
    assert row.data_class == "plate"
    assert keys.refs([row.key_id]) == {row.key_id: [str(incident_id)]}  # the track: no ref
    plain = {e.name: e.data for e in LogReader(sealed_app).read(1, 10)}
    stored = {e.name: e.data for e in SealedLogReader(sealed_app).read(1, 10)}
    assert plain["Opened"]["subject"] == {"plate": "A 123 BC 02"}
    marker = stored["Opened"]["subject"]["plate"]
    assert is_sealed(marker) and marker["k"] == row.key_id and marker["f"] == "subject.plate"
    assert is_sealed(stored["Started"]["key"]) and stored["Opened"]["kind"] == "plate_match"
    assert sealed_app.incident(incident_id).incident_key == "plate_match:plate=A123BC02"
    assert unseal({"x": [marker, 1]}, keys) == {"x": ["A 123 BC 02", 1]}  # the adapter's path
    second = open_plate(sealed_app, episode=1)  # the cached key, a new reference
    assert keys.refs([row.key_id]) == {row.key_id: sorted([str(incident_id), str(second)])}


def test_a_shred_is_honoured_at_once_here_and_by_another_process(
        sealed_env: dict[str, str], sealed_app: IncidentApp) -> None:
    incident_id = open_plate(sealed_app)
    other = IncidentApp({**sealed_env, "PRIVACY_KEY_CACHE_S": "0"}, RULES)
    try:
        assert other.incident(incident_id).subject == {"plate": "A 123 BC 02"}
        keys = keystore_of(sealed_app)
        (row,) = keys.live_keys([PLATE])
        assert keys.shred([row.key_id], str(uuid.uuid4()), {"why": "test"}) == 1
        assert sealed_app.incident(incident_id).subject == {"plate": SHREDDED}  # same process
        assert other.incident(incident_id).subject == {"plate": SHREDDED}  # no cache (0 s)
        assert keys.live_keys([PLATE]) == []
        second = open_plate(sealed_app, episode=1)  # seen again: a fresh key
        assert sealed_app.incident(second).subject == {"plate": "A 123 BC 02"}
        assert [k.key_id for k in keys.live_keys([PLATE])] != [row.key_id]
        assert len(keys.pending_erasures()) == 1
    finally:
        other.close()


def test_shredded_key_bytes_leave_the_sqlite_files(sealed_env: dict[str, str],
                                                   sealed_app: IncidentApp) -> None:
    if "SQLITE_DBNAME" not in sealed_env:
        pytest.skip("PostgreSQL keeps old row versions until VACUUM (documented)")
    open_plate(sealed_app)
    keys = keystore_of(sealed_app)
    _, key = keys.sealing_key(PLATE, None)
    assert [f for f in raw_files(sealed_env) if key in f.read_bytes()]
    (row,) = keys.live_keys([PLATE])
    keys.shred([row.key_id], str(uuid.uuid4()), {})
    assert not [f for f in raw_files(sealed_env) if key in f.read_bytes()]


def _stored_opened(app: IncidentApp) -> Any:
    return next(n for n in app.recorder.select_notifications(1, 10)
                if n.topic.endswith("Incident.Opened"))


def test_tampered_or_moved_ciphertext_is_an_error_not_a_shred(sealed_app: IncidentApp) -> None:
    open_plate(sealed_app)
    sealer = Sealer(keystore_of(sealed_app))
    stored = json.loads(_stored_opened(sealed_app).state)
    marker = stored["subject"]["plate"]
    assert sealer.open(marker) == "A 123 BC 02"
    blob = bytearray(base64.b64decode(marker["c"]))
    blob[-1] ^= 1
    with pytest.raises(SealedValueError, match="fails authentication"):
        sealer.open({**marker, "c": base64.b64encode(bytes(blob)).decode()})
    with pytest.raises(SealedValueError, match="fails authentication"):
        sealer.open({**marker, "f": "incident_key"})
    with pytest.raises(SealedValueError, match="malformed"):
        sealer.open({**marker, "k": "not-a-key-id"})
    assert sealer.open({**marker, "k": str(uuid.uuid4())}) == SHREDDED  # no such key


def test_without_a_pepper_nothing_is_sealed_and_snapshots_are_refused_with_one(
        sealed_env: dict[str, str]) -> None:
    plain_env = {k: v for k, v in sealed_env.items() if not k.startswith("PRIVACY_")}
    plain = IncidentApp(plain_env, RULES)
    try:
        assert plain.factory.keystore is None  # type: ignore[attr-defined]
    finally:
        plain.close()
    with pytest.raises(KeyStoreError, match="snapshots"):
        IncidentApp({**sealed_env, "IS_SNAPSHOTTING_ENABLED": "y"}, RULES)
    with pytest.raises(KeyStoreError, match="at least 16"):
        IncidentApp({**sealed_env, "PRIVACY_PEPPER": "short"}, RULES)


def test_per_incident_keys_seal_snapshots_and_notes(sealed_app: IncidentApp) -> None:
    incident_id = open_plate(sealed_app)
    sealed_app.add_evidence(incident_id, [det("plate_match", source="cam-9",
                                              attributes={"plate": "A123BC02"},
                                              snapshot={"uri": "s3://ev/1.jpg",
                                                        "sha256": "0" * 64})], T0)
    sealed_app.add_note(incident_id, text="driver looked away", by="op-1", at=T0)
    keys = keystore_of(sealed_app)
    own = keys.live_keys([Identity(DataClass.SNAPSHOT, str(incident_id)),
                          Identity(DataClass.FREE_TEXT, str(incident_id))])
    assert sorted(k.data_class for k in own) == ["free_text", "snapshot"]
    history = {type(e).__name__: e for e in sealed_app.history(incident_id)}
    assert history["EvidenceAdded"].snapshots == [{"ref": "s3://ev/1.jpg", "sha256": "0" * 64}]
    assert history["NoteAdded"].text == "driver looked away"
    stored = b"\n".join(n.state for n in sealed_app.recorder.select_notifications(1, 20))
    assert b"s3://ev/1.jpg" not in stored and b"looked away" not in stored
