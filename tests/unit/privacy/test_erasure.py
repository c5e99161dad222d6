"""What is sealed under whose key, what a shred redacts, legal holds: pure, milliseconds.

The `seal` callbacks here are tiny reversible stand-ins for `eventstore.sealing.Sealer` (the real
cipher is exercised against real databases in tests/integration/privacy): `seal_field` only
promises to hand each personal value, its identity and its field to the callback.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from domain.correlation import correlation_key
from domain.erasure import (
    DataClass,
    Identity,
    InvalidErasure,
    check_reason,
    erasure_identities,
    key_identity,
    parse_subject,
    redact_key,
    redact_snapshots,
    redact_subject,
    seal_field,
    sealed_fields,
    unseal_field,
)
from domain.errors import InvalidCommand
from domain.log import LogEvent
from domain.privacy import SEALED, SHREDDED, is_sealed, mask, minimise
from projections.views.police import PoliceView
from tests.helpers import T0, default_rules, det
from tests.unit.test_incident import OP, opened

INCIDENT = "0b7c54b6-5d0e-5c2e-9a57-f1d0a7a1f3a1"


def _marker(plaintext: str, identity: Identity, field: str) -> dict[str, Any]:
    return {SEALED: 1, "k": str(identity), "f": field, "c": plaintext[::-1]}


def _opener(erased: set[str]) -> Any:
    """Opens markers whose identity's class was not erased; the rest read as shredded."""
    def open_(marker: Any) -> str:
        data_class = marker["k"].partition(":")[0]
        return SHREDDED if data_class in erased else str(marker["c"])[::-1]
    return open_


@pytest.mark.parametrize(("text", "expected"), [
    ("plate:A 123 bc 02", "plate:A123BC02"), ("plate:A123BC02", "plate:A123BC02"),
    ("face:W-1042", "face:W-1042"), (" face:S7 ", "face:S7"),
])
def test_subjects_parse_to_normalised_identities(text: str, expected: str) -> None:
    assert str(parse_subject(text)) == expected


@pytest.mark.parametrize("text", ["A123BC02", "snapshot:x", "plate:", "plate: - ", "face:",
                                  "passport:123", f"face:{'x' * 201}"])
def test_malformed_subjects_are_refused_by_name(text: str) -> None:
    with pytest.raises(InvalidErasure, match="subject"):
        parse_subject(text)


def test_a_key_names_the_same_identity_as_the_detection_it_came_from() -> None:
    """The keystore finds a subject's key through either path: they must never disagree."""
    rules = default_rules()
    plate = det("plate_match", attributes={"plate": "a 123-bc 02"})
    face = det("face_match", attributes={"subject_id": "W-1042", "similarity": 0.9})
    assert key_identity(correlation_key(plate, rules)) == parse_subject("plate:a 123-bc 02")
    assert key_identity(correlation_key(face, rules)) == parse_subject("face:W-1042")
    assert key_identity(correlation_key(det("fire"), rules)) is None
    assert key_identity("waste_pickup:missed:yard-3:2026-11-26") is None


def test_reasons_are_required_and_must_not_name_the_subject() -> None:
    plate = parse_subject("plate:A123BC02")
    check_reason("court order 17/2026", plate)
    for bad in ["", "   ", "x" * 2001]:
        with pytest.raises(InvalidErasure, match=r"1\.\.2000"):
            check_reason(bad, plate)
    for naming in ["owner of a123 bc02 asked", "A123BC02"]:
        with pytest.raises(InvalidErasure, match="must not contain"):
            check_reason(naming, plate)
    with pytest.raises(InvalidErasure, match="must not contain"):
        check_reason("request about w-1042", parse_subject("face:W-1042"))


CYRILLIC_PLATE = "\u0410123\u0412\u042102"  # A123BC02 read in Cyrillic


def test_a_plate_is_erased_in_every_script_a_face_as_it_is() -> None:
    latin = {i.value for i in erasure_identities(parse_subject("plate:a123 bc02"))}
    typed = {i.value for i in erasure_identities(parse_subject(f"plate:{CYRILLIC_PLATE}"))}
    assert latin == typed and len(latin) == 8  # A, B, C each in either script
    assert {"A123BC02", CYRILLIC_PLATE, "A123\u0412C02"} <= latin
    assert erasure_identities(parse_subject("plate:777")) == [parse_subject("plate:777")]
    long = {i.value for i in erasure_identities(parse_subject("plate:" + "A" * 20))}
    assert long == {"A" * 20, "\u0410" * 20}  # 2**20 mixes: the pure forms only
    assert erasure_identities(parse_subject("face:W-1042")) == [parse_subject("face:W-1042")]
    with pytest.raises(InvalidErasure, match="must not contain"):
        check_reason("owner of A123BC02 asked", parse_subject(f"plate:{CYRILLIC_PLATE}"))


def test_only_personal_fields_of_incidents_and_tracks_are_sealed() -> None:
    assert set(sealed_fields("Incident.Opened")) == {"incident_key", "subject", "snapshots"}
    assert "text" in sealed_fields("Incident.NoteAdded")  # free text may name anyone
    assert "reason" not in sealed_fields("Incident.Resolved")
    assert sealed_fields("CorrelationTrack.Started") == ("key",)
    assert sealed_fields("CorrelationTrack.EpisodeStarted") == ()
    assert sealed_fields("CanteenTally.Counted") == ()


def test_each_personal_value_is_sealed_under_its_own_identity_and_structure_stays() -> None:
    subject = {"subject_id": "W-1042", "plate": "A 123 BC 02", "missed": "sched-1"}
    sealed = seal_field("subject", subject, INCIDENT, _marker)
    assert sealed["missed"] == "sched-1"  # not personal: left as is
    assert sealed["subject_id"]["k"] == "face:W-1042"
    assert sealed["plate"] == {SEALED: 1, "k": "plate:A123BC02", "f": "subject.plate",
                               "c": "20 CB 321 A"}
    snaps = seal_field("snapshots", ["s3://e/1.jpg", "s3://e/2.jpg"], INCIDENT, _marker)
    assert [s["k"] for s in snaps] == [f"snapshot:{INCIDENT}"] * 2
    assert is_sealed(seal_field("incident_key", "plate_match:plate=A123BC02", INCIDENT, _marker))
    assert seal_field("incident_key", "fire:site=market-7", INCIDENT, _marker) == \
        "fire:site=market-7"
    assert subject == {"subject_id": "W-1042", "plate": "A 123 BC 02", "missed": "sched-1"}
    assert unseal_field(sealed, _opener(set())) == subject
    assert unseal_field(snaps, _opener({"snapshot"})) == [SHREDDED, SHREDDED]
    note = seal_field("text", "plate A 123 BC 02 seen", INCIDENT, _marker)
    assert note["k"] == f"free_text:{INCIDENT}"


def test_masks_of_sealed_values_follow_the_key_not_the_ciphertext() -> None:
    one = {SEALED: 1, "k": "k-1", "f": "subject.plate", "c": "AAAA"}
    again = {**one, "c": "BBBB"}  # the same subject sealed a second time
    other = {**one, "k": "k-2"}
    assert mask(one) == mask(again) != mask(other)
    assert mask({"plate": one}) == mask({"plate": again})
    data = {"incident_key": one, "subject": {"plate": one}, "kind": "plate_match"}
    assert minimise("Opened", data, "police") == data
    assert minimise("Opened", data, "situation_centre")["subject"] == mask({"plate": again})
    assert "subject" not in minimise("Opened", data, "zhkkh")


def test_legal_hold_is_placed_and_released_once_each_with_a_reason() -> None:
    inc = opened()
    with pytest.raises(InvalidCommand, match="not under legal hold"):
        inc.release_legal_hold(reason="done", actor=OP, at=T0)
    with pytest.raises(InvalidCommand, match=r"1\.\.2000"):
        inc.place_legal_hold(reason=" ", actor=OP, at=T0)
    inc.place_legal_hold(reason="case 17", actor=OP, at=T0)
    assert inc.legal_hold
    with pytest.raises(InvalidCommand, match="already under legal hold"):
        inc.place_legal_hold(reason="case 18", actor=OP, at=T0)
    inc.release_legal_hold(reason="case closed", actor=OP, at=T0)
    assert not inc.legal_hold


def test_erasure_redacts_the_aggregate_as_a_replay_would_read_it() -> None:
    inc = opened()
    inc.incident_key, inc.subject = "plate_match:plate=A123BC02", {"plate": "A123BC02"}
    inc.erase_personal_data(erasure_id="e-1", key_ids=["k"], data_classes=["face"], actor=OP,
                            at=T0)
    assert (inc.incident_key, inc.subject) == ("plate_match:plate=A123BC02", {"plate": "A123BC02"})
    inc.erase_personal_data(erasure_id="e-2", key_ids=["k"], data_classes=["plate"], actor=OP,
                            at=T0)
    assert (inc.incident_key, inc.subject) == (SHREDDED, {"plate": SHREDDED})


def _events(open_: Any) -> list[LogEvent]:
    """Opened + EvidenceAdded of a plate match, personal values passed through seal/open."""
    def stored(name: str, data: dict[str, Any]) -> dict[str, Any]:
        return {k: unseal_field(seal_field(k, v, INCIDENT, _marker), open_)
                if k in sealed_fields(f"Incident.{name}") else v for k, v in data.items()}
    opened_data = {"kind": "plate_match", "severity": 3, "site_id": None,
                   "sla_due_at": T0.isoformat(), "source_ids": ["cam-1"],
                   "first_seen_at": T0.isoformat(), "last_seen_at": T0.isoformat(),
                   "incident_key": "plate_match:plate=A123BC02",
                   "subject": {"plate": "A 123 BC 02", "subject_id": "W-7"}}
    evidence = {"source_ids": ["cam-2"], "first_seen_at": T0.isoformat(),
                "last_seen_at": T0.isoformat(), "snapshots": ["s3://e/1.jpg", "s3://e/2.jpg"]}
    return [LogEvent(1, "Incident", "Opened", INCIDENT, 1, T0.isoformat(),
                     stored("Opened", opened_data)),
            LogEvent(2, "Incident", "EvidenceAdded", INCIDENT, 2, T0.isoformat(),
                     stored("EvidenceAdded", evidence))]


def _fold(events: list[LogEvent]) -> dict[str, Any] | None:
    view, doc = PoliceView(), None
    for e in events:
        doc = view.apply(doc, e)
    return doc


@pytest.mark.parametrize("erased", [set(c) for n in range(4)
                                    for c in itertools.combinations(["face", "plate",
                                                                     "snapshot"], n)])
def test_a_live_view_redacted_by_the_event_equals_a_rebuild_after_the_shred(
        erased: set[str]) -> None:
    erasure = LogEvent(3, "Incident", "PersonalDataErased", INCIDENT, 3, T0.isoformat(),
                       {"erasure_id": "e-1", "key_ids": ["k"], "data_classes": sorted(erased),
                        "actor": OP})
    live = _fold([*_events(_opener(set())), erasure])  # plaintext until the event
    rebuilt = _fold([*_events(_opener(erased)), erasure])  # the store reads shredded values
    assert live == rebuilt
    assert live is not None
    assert (live["subject"]["plate"] == SHREDDED) == ("plate" in erased)
    assert (live["snapshots"] == [SHREDDED, SHREDDED]) == ("snapshot" in erased)


def test_redaction_leaves_what_was_never_sealed() -> None:
    assert redact_key("fire:site=market-7", {"face", "plate"}) == "fire:site=market-7"
    assert redact_key("face_match:subject=S7", {"face"}) == SHREDDED
    assert redact_subject({"missed": "s-1", "plate": "A1"}, {"plate"}) == {"missed": "s-1",
                                                                          "plate": SHREDDED}
    assert redact_snapshots(["a", None], {DataClass.SNAPSHOT}) == [SHREDDED, None]
