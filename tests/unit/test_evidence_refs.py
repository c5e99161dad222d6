"""Evidence images on incidents (issue 15 item 4): structured refs with their sha256 on
`Opened` and every evidence event, coalesced by digest, never capped; sealing seals the ref
and leaves the digest; a shred redacts the ref and keeps the digest as proof."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.detection import InvalidDetection, validate_detection_dict
from domain.erasure import Identity, redact_snapshots, seal_field
from domain.incident import Incident, coalesce_snapshots, incident_id_for
from domain.kinds import Kind
from domain.privacy import SHREDDED
from tests.helpers import T0, default_rules, det, record

S = timedelta(seconds=1)
POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
"""The library's in-memory store: pure (no file, no process), the same mapper and upcasters."""


def _digest(n: int) -> str:
    return f"{n:064x}"


def _shot(n: int, *, digest: bool = True) -> dict[str, Any]:
    snap = {"uri": f"file:///ev/{n}.jpg"}
    return {**snap, "sha256": _digest(n)} if digest else snap


def test_coalesce_dedupes_by_digest_then_by_ref_and_drops_nothing_else() -> None:
    refs = [{"ref": "a", "sha256": _digest(1)}, {"ref": "b", "sha256": _digest(1)},
            {"ref": "c", "sha256": None}, {"ref": "c"}, {"ref": "d", "sha256": _digest(2)}]
    assert coalesce_snapshots(refs) == [{"ref": "a", "sha256": _digest(1)},
                                        {"ref": "c", "sha256": None},
                                        {"ref": "d", "sha256": _digest(2)}]
    assert coalesce_snapshots(refs, {f"sha256:{_digest(1)}"})[0]["ref"] == "c"


def test_opening_detections_images_are_on_opened_and_no_image_is_capped() -> None:
    app = IncidentApp(POPO, default_rules())
    try:
        burst = tuple(det("fire", source="cam-1", seconds=i, snapshot=_shot(i))
                      for i in (2, 0, 1, 0))  # the last one's image is the second one's
        iid = incident_id_for("fire:site=site-1", 0)
        app.apply(OpenIncident("fire:site=site-1", Kind.FIRE, 0, iid, burst, None, T0), T0)
        opened = app.history(iid)[0]
        assert type(opened).__name__ == "Opened" and type(opened).class_version == 2
        assert [s["sha256"] for s in opened.snapshots] == [_digest(0), _digest(1), _digest(2)]
        many = [det("fire", source="cam-2", seconds=10 + i, snapshot=_shot(100 + i))
                for i in range(30)]
        app.add_evidence(iid, [*many, *many[:5]], T0 + 60 * S)  # 5 redelivered
        again = det("fire", source="cam-3", seconds=50, snapshot=_shot(100))  # same image
        app.add_evidence(iid, [again], T0 + 61 * S)
        incident = app.incident(iid)
        digests = [s["sha256"] for s in incident.snapshots]
        assert len(digests) == len(set(digests)) == len(opened.snapshots) + 30
        assert incident.snapshot(_digest(129)) == {"ref": "file:///ev/129.jpg",
                                                   "sha256": _digest(129)}
        last = app.history(iid)[-1]
        assert type(last).__name__ == "EvidenceAdded" and last.snapshots == []
    finally:
        app.close()


def test_a_detection_without_a_digest_is_valid_and_referenced_only() -> None:
    d = validate_detection_dict(record("fire", snapshot=_shot(7, digest=False)))
    assert d.snapshot is not None and d.snapshot.sha256 is None
    with pytest.raises(InvalidDetection, match=r"snapshot\.sha256"):
        validate_detection_dict(record("fire", snapshot={"uri": "x", "sha256": "ABC"}))


def test_sealing_seals_the_ref_and_keeps_the_digest_and_v1_strings_whole() -> None:
    sealed: list[tuple[str, Identity, str]] = []

    def seal(plain: str, identity: Identity, field: str) -> dict[str, Any]:
        sealed.append((plain, identity, field))
        return {"$sealed": 1, "k": "key", "f": field, "c": "x"}

    v2 = seal_field("snapshots", [{"ref": "file:///a.jpg", "sha256": _digest(1)}], "inc-1", seal)
    assert v2 == [{"ref": {"$sealed": 1, "k": "key", "f": "snapshots", "c": "x"},
                   "sha256": _digest(1)}]
    assert seal_field("snapshots", ["file:///b.jpg"], "inc-1", seal)[0]["$sealed"] == 1
    assert [(p, str(i)) for p, i, _ in sealed] == [("file:///a.jpg", "snapshot:inc-1"),
                                                  ("file:///b.jpg", "snapshot:inc-1")]


def test_a_shred_redacts_refs_and_keeps_digests() -> None:
    refs = [{"ref": "file:///a.jpg", "sha256": _digest(1)}, "file:///v1.jpg"]
    assert redact_snapshots(refs, ["snapshot"]) == [{"ref": SHREDDED, "sha256": _digest(1)},
                                                    SHREDDED]
    assert redact_snapshots(refs, ["plate"]) == refs
    inc = Incident(incident_key="fire:site=s", episode=0, kind="fire", severity=2,
                   site_id="s", location=None, source_ids=["c"], detection_ids=["d"],
                   first_seen_at=T0, last_seen_at=T0, sla_due_at=T0, agencies=[], subject={},
                   linked_to=None, rule="r", actor="r", timestamp=T0,
                   snapshots=[{"ref": "file:///a.jpg", "sha256": _digest(1)}])
    inc.erase_personal_data(erasure_id="e", key_ids=["k"], data_classes=["snapshot"],
                            actor="rule:retention", at=T0)
    assert inc.snapshots == [{"ref": SHREDDED, "sha256": _digest(1)}]
    assert inc.snapshot(_digest(1)) is not None


def test_the_police_view_shows_the_first_images_and_counts_them_all() -> None:
    from domain.log import LogReader
    from projections.views.base import fold
    from projections.views.police import VIEW_SNAPSHOTS, PoliceView

    app = IncidentApp(POPO, default_rules())
    try:
        key = "plate_match:plate=A1"
        opening = tuple(det("plate_match", source="cam-1", seconds=i, snapshot=_shot(i),
                            attributes={"plate": "A1"}) for i in range(3))
        iid = incident_id_for(key, 0)
        app.apply(OpenIncident(key, Kind.PLATE_MATCH, 0, iid, opening, None, T0), T0)
        app.add_evidence(iid, [det("plate_match", source="cam-2", seconds=10 + i,
                                   snapshot=_shot(50 + i), attributes={"plate": "A1"})
                               for i in range(40)], T0 + 60 * S)
        (row,) = fold(PoliceView(), {}, LogReader(app).read(1, 100)).values()
    finally:
        app.close()
    assert row is not None and row["snapshot_count"] == 43
    assert row["snapshots"][:3] == [f"file:///ev/{i}.jpg" for i in range(3)]  # opening first
    assert len(row["snapshots"]) == VIEW_SNAPSHOTS
