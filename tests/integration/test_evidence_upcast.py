"""Evidence events stored before v2 (issue 15 item 4) read back through the upcasters, on the
production store (hash chain + sealing, SQLite; the stored form is the same on PostgreSQL):
a v1 `Opened` (no snapshots) and a v1 `EvidenceAdded` (bare refs, each sealed whole) load,
the fast log reader equals the reference, and new v2 evidence adds to them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from domain.application import IncidentApp
from domain.log import LogReader
from eventstore.fastlog import FastLogReader
from kuzet.settings import CHAINED_SQLITE
from tests.helpers import T0, default_rules, det
from tests.integration.privacy.conftest import PEPPER
from tests.integration.privacy.test_keystore import open_plate

RULES = default_rules()
DIGEST = "ab" * 32


def _to_v1(state: bytes, name: str) -> bytes:
    doc = json.loads(state)
    assert doc.pop("class_version") == 2
    if name == "Opened":
        doc.pop("snapshots")
    else:  # v1 kept bare refs: the sealed marker of the ref itself
        doc["snapshots"] = [s["ref"] for s in doc["snapshots"]]
    return json.dumps(doc, separators=(",", ":")).encode()


def test_v1_opened_and_evidence_added_load_through_the_upcasters(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": CHAINED_SQLITE, "SQLITE_DBNAME": str(tmp_path / "ev.sqlite"),
           "PRIVACY_PEPPER": PEPPER}
    app = IncidentApp(env, RULES)
    iid = open_plate(app)
    app.add_evidence(iid, [det("plate_match", source="cam-2", attributes={"plate": "A123BC02"},
                               snapshot={"uri": "file:///ev/old.jpg", "sha256": DIGEST})], T0)
    app.close()
    with sqlite3.connect(env["SQLITE_DBNAME"]) as db:
        for name in ("Opened", "EvidenceAdded"):
            (state,) = db.execute("SELECT state FROM stored_events WHERE topic LIKE ?",
                                  (f"%Incident.{name}",)).fetchone()
            db.execute("UPDATE stored_events SET state = ? WHERE topic LIKE ?",
                       (_to_v1(state, name), f"%Incident.{name}"))
    app = IncidentApp(env, RULES)
    try:
        incident = app.incident(iid)
        assert incident.snapshots == [{"ref": "file:///ev/old.jpg", "sha256": None}]
        assert app.history(iid)[0].snapshots == []
        app.add_evidence(iid, [det("plate_match", source="cam-3",
                                   attributes={"plate": "A123BC02"},
                                   snapshot={"uri": "file:///ev/new.jpg", "sha256": DIGEST})],
                         T0)
        assert app.incident(iid).snapshots[-1] == {"ref": "file:///ev/new.jpg",
                                                   "sha256": DIGEST}
        fast = FastLogReader(app)
        assert fast.read(1, 20) == LogReader(app).read(1, 20)
        assert fast.fell_back == 2  # the two v1 events went through the upcasters
    finally:
        app.close()


def test_structured_refs_are_sealed_and_their_digests_kept_in_the_clear(tmp_path: Path) -> None:
    """The ref is stored as a sealed value under the incident's snapshot key, as bare refs
    were; the digest is stored as it is (it outlives a shred as proof)."""
    env = {"PERSISTENCE_MODULE": CHAINED_SQLITE, "SQLITE_DBNAME": str(tmp_path / "ev.sqlite"),
           "PRIVACY_PEPPER": PEPPER}
    app = IncidentApp(env, RULES)
    try:
        iid = open_plate(app)
        app.add_evidence(iid, [det("plate_match", source="cam-2",
                                   attributes={"plate": "A123BC02"},
                                   snapshot={"uri": "file:///ev/secret-yard.jpg",
                                             "sha256": DIGEST})], T0)
        stored = b"\n".join(n.state for n in app.recorder.select_notifications(1, 20))
        assert b"secret-yard" not in stored and DIGEST.encode() in stored
        (evidence,) = [json.loads(n.state) for n in app.recorder.select_notifications(1, 20)
                       if n.topic.endswith("Incident.EvidenceAdded")]
        (snap,) = evidence["snapshots"]
        assert snap["sha256"] == DIGEST and snap["ref"]["$sealed"] == 1
        assert app.incident(iid).snapshots == [{"ref": "file:///ev/secret-yard.jpg",
                                                "sha256": DIGEST}]
    finally:
        app.close()
