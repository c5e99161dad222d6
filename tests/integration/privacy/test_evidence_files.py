"""Evidence files on disk go with their keys (issue 15 item 4): a subject's shred and the
retention sweep delete the images of the incidents whose snapshot key they destroyed; the
sha256 stays on the incident as proof the image existed; a legal hold keeps the file."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np

from audit.retention import apply_retention, shred_subject
from detectors.evidence import EvidenceStore
from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.detection import Snapshot
from domain.incident import incident_id_for
from domain.kinds import Kind
from domain.privacy import SHREDDED
from tests.helpers import T0, det
from tests.integration.privacy.conftest import keystore_of

DAYS = {"face": 30, "plate": 30, "snapshot": 30, "free_text": 365}


def _image(store: EvidenceStore, shade: int) -> Snapshot:
    frame = np.full((24, 32, 3), shade, np.uint8)
    frame[4:12, 4:20] = 255 - shade
    return store.put(frame)


def _open(app: IncidentApp, kind: str, key: str, snap: Snapshot, **attributes: str) -> uuid.UUID:
    d = det(kind, attributes=attributes, snapshot={"uri": snap.uri, "sha256": snap.sha256})
    iid = incident_id_for(key, 0)
    app.apply(OpenIncident(key, Kind(kind), 0, iid, (d,), None, T0), T0)
    return iid


def test_a_shred_deletes_the_subjects_images_and_keeps_their_digests(
        sealed_app: IncidentApp, tmp_path: Path) -> None:
    app, keys, store = sealed_app, keystore_of(sealed_app), EvidenceStore(tmp_path / "ev")
    plate, fire = _image(store, 10), _image(store, 90)
    wanted = _open(app, "plate_match", "plate_match:plate=A123BC02", plate, plate="A123BC02")
    other = _open(app, "fire", "fire:site=site-1", fire)
    assert plate.sha256 is not None and store.path_of(plate.sha256).exists()

    done = shred_subject(app, keys, "plate:A123BC02", reason="request 12", actor="operator:dpo",
                         at=T0, evidence=store.root)
    assert done is not None and list(done.deleted) == [plate.sha256] and not done.kept
    assert not store.path_of(plate.sha256).exists()
    assert app.incident(wanted).snapshots == [{"ref": SHREDDED, "sha256": plate.sha256}]
    assert fire.sha256 is not None and store.path_of(fire.sha256).exists()  # not the subject's
    assert app.incident(other).snapshots == [{"ref": fire.uri, "sha256": fire.sha256}]


def test_retention_deletes_images_past_their_period_except_under_legal_hold(
        sealed_app: IncidentApp, tmp_path: Path) -> None:
    app, keys, store = sealed_app, keystore_of(sealed_app), EvidenceStore(tmp_path / "ev")
    old, held_shot = _image(store, 30), _image(store, 60)
    expired = _open(app, "fire", "fire:site=site-1", old)
    held = _open(app, "fire", "fire:site=site-2", held_shot)
    app.place_legal_hold(held, reason="court case 7/2026", by="op-1", at=T0)
    assert old.sha256 is not None and held_shot.sha256 is not None

    soon = apply_retention(app, keys, DAYS, at=T0 + timedelta(days=1), evidence=store.root)
    assert soon.shreds == [] and store.path_of(old.sha256).exists()
    done = apply_retention(app, keys, DAYS, at=T0 + timedelta(days=400), evidence=store.root)
    assert [list(s.deleted) for s in done.shreds] == [[old.sha256]]
    assert not store.path_of(old.sha256).exists()
    assert app.incident(expired).snapshots == [{"ref": SHREDDED, "sha256": old.sha256}]
    assert store.path_of(held_shot.sha256).exists()
    assert app.incident(held).snapshots[0]["ref"] == held_shot.uri
