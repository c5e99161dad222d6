"""Procedures as data, checklist steps and two-person verification on the Incident aggregate.

Pure: the aggregate and the in-memory eventsourcing store only (no database, no clock).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from eventsourcing.application import Application
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import IncidentApp
from domain.correlation import Episode, Escalate, KeyState, OpenIncident, tick
from domain.errors import IllegalTransition, IncidentError, InvalidCommand
from domain.incident import MAX_LEVEL, Incident
from domain.kinds import Kind, Status
from domain.procedures import (
    InvalidProcedures,
    NotVerified,
    ProcedureIncomplete,
    SamePerson,
    load_procedures,
)
from domain.routing import RoutingPolicy, Site, SiteDirectory
from tests.helpers import T0, default_rules, det

S = timedelta(seconds=1)
A, B, SUP = "operator:alice", "operator:bob", "operator:sue"
SHIPPED = load_procedures(resources.files("domain").joinpath("procedures.toml").read_text())
STEPS = [
    {"key": "verify_on_camera", "labels": {"en": "Verify"}, "mandatory": True, "deadline_s": 30},
    {"key": "call_police", "labels": {"en": "Call"}, "mandatory": True, "deadline_s": 90},
    {"key": "tell_owner", "labels": {"en": "Tell"}, "mandatory": False, "deadline_s": None},
]


def opened(kind: str = "weapon", *, steps: bool = True, two_person: bool = True) -> Incident:
    inc = Incident(
        incident_key=f"{kind}:source=cam-1", episode=0, kind=kind, severity=4, site_id="s1",
        location=None, source_ids=["cam-1"], detection_ids=["d1"], first_seen_at=T0,
        last_seen_at=T0, sla_due_at=T0 + 30 * S, agencies=["situation_centre", "police"],
        subject={}, linked_to=None, rule="rule:weapon@1", actor="rule:weapon@1", timestamp=T0,
        snapshots=[],
    )
    if steps:
        inc.assign_procedure(procedure="weapon@1", steps=STEPS, actor="rule:weapon@1", at=T0)
    if two_person:
        inc.require_verification(policy="procedures@1", actor="rule:weapon@1", at=T0)
    return inc


def names(inc: Incident) -> list[str]:
    return [type(e).__name__ for e in inc.collect_events()]


# --- the document ---------------------------------------------------------------------------


def test_shipped_procedures_load_and_the_site_type_wins() -> None:
    assert SHIPPED.two_person_kinds == {Kind.FACE_MATCH, Kind.PLATE_MATCH, Kind.WEAPON}
    school, anywhere = SHIPPED.for_incident("fire", "school"), SHIPPED.for_incident("fire", None)
    assert school is not None and anywhere is not None
    assert (school.id, anywhere.id) == ("fire-school", "fire")
    assert "notify_school_director" in [s.key for s in school.steps]
    assert SHIPPED.for_incident("crowd", None) is None
    assert all(set(s.labels) == {"en", "ru", "kk"} for p in SHIPPED.procedures for s in p.steps)


def test_a_bad_document_lists_every_problem() -> None:
    text = """
        version = 0
        colour = "red"
        two_person_kinds = ["weapon", "dragon"]
        [[procedures]]
        id = "x"
        kinds = ["fire"]
        [[procedures.steps]]
        key = "Bad Key"
        label = { en = "ok" }
        mandatory = "yes"
        deadline_s = -5
        [[procedures]]
        id = "y"
        kinds = ["fire"]
        steps = [{ key = "a", label = { en = "a", ru = "a", kk = "a" } },
                 { key = "a", label = { en = "a", ru = "a", kk = "a" } }]
    """
    with pytest.raises(InvalidProcedures) as caught:
        load_procedures(text, "mine.toml")
    problems = "\n".join(caught.value.problems)
    for expected in ("version:", "colour: unknown setting", "unknown kind 'dragon'",
                     "steps[0].key", "label.ru", "mandatory", "deadline_s",
                     "'a' appears more than once", "already covered by x"):
        assert expected in problems
    assert "mine.toml" in str(caught.value)
    with pytest.raises(InvalidProcedures, match="not valid TOML"):
        load_procedures("version = ", "broken.toml")


# --- checklist steps ------------------------------------------------------------------------


def reach(status: Status) -> Incident:
    inc = opened(two_person=False)
    path = {
        Status.OPEN: [], Status.ACKNOWLEDGED: ["ack"], Status.DISPATCHED: ["ack", "dispatch"],
        Status.RESOLVED: ["ack", "resolve"], Status.FALSE_ALARM: ["false"],
        Status.REOPENED: ["false", "reopen"], Status.AUTO_RESOLVED: ["auto"],
        Status.CLOSED: ["false", "close"],
    }[status]
    acts: dict[str, Any] = {
        "ack": lambda: inc.acknowledge(actor=A, at=T0 + S),
        "dispatch": lambda: inc.dispatch(unit="p-1", actor=A, at=T0 + 2 * S),
        "resolve": lambda: inc.resolve(resolution="done", actor=A, at=T0 + 3 * S),
        "false": lambda: inc.mark_false_alarm(reason="toy", actor=A, at=T0 + 3 * S),
        "reopen": lambda: inc.reopen(reason="again", detection_ids=[], actor=A, at=T0 + 4 * S),
        "auto": lambda: inc.auto_resolve(reason="quiet", actor="rule:x", at=T0 + 4 * S),
        "close": lambda: inc.close(actor=SUP, at=T0 + 5 * S, override="drill"),
    }
    for step in path:
        acts[step]()
    assert inc.status is status
    return inc


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.MERGED])
def test_steps_are_settled_in_every_status_but_closed(status: Status) -> None:
    inc = reach(status)
    if status is Status.CLOSED:
        with pytest.raises(IllegalTransition):
            inc.complete_step(step="verify_on_camera", actor=A, at=T0 + 9 * S)
        with pytest.raises(IllegalTransition):
            inc.skip_step(step="call_police", reason="n/a", actor=A, at=T0 + 9 * S)
        return
    inc.complete_step(step="verify_on_camera", actor=A, at=T0 + 9 * S)
    inc.skip_step(step="call_police", reason="crew already there", actor=B, at=T0 + 9 * S)
    assert inc.step_outcomes["verify_on_camera"]["outcome"] == "done"
    assert inc.step_outcomes["call_police"] == {
        "outcome": "skipped", "actor": B, "at": T0 + 9 * S, "reason": "crew already there"}
    assert inc.outstanding_steps() == []


def test_refused_step_commands() -> None:
    inc = opened()
    with pytest.raises(InvalidCommand, match="no step 'dance'"):
        inc.complete_step(step="dance", actor=A, at=T0)
    with pytest.raises(InvalidCommand, match="reason"):
        inc.skip_step(step="call_police", reason="  ", actor=A, at=T0)
    inc.complete_step(step="call_police", actor=A, at=T0)
    with pytest.raises(InvalidCommand, match="already done"):
        inc.skip_step(step="call_police", reason="x", actor=B, at=T0)
    with pytest.raises(InvalidCommand, match="already follows"):
        inc.assign_procedure(procedure="other@1", steps=STEPS, actor="rule:x", at=T0)
    bare = opened(steps=False, two_person=False)
    with pytest.raises(InvalidCommand, match="procedure none"):
        bare.complete_step(step="call_police", actor=A, at=T0)


def test_closing_needs_mandatory_steps_or_an_override() -> None:
    inc = reach(Status.RESOLVED)
    inc.complete_step(step="verify_on_camera", actor=A, at=T0 + 9 * S)
    with pytest.raises(ProcedureIncomplete) as caught:
        inc.close(actor=SUP, at=T0 + 10 * S)
    assert caught.value.steps == ("call_police",)
    assert inc.status is Status.RESOLVED
    with pytest.raises(ProcedureIncomplete):
        inc.close(actor=SUP, at=T0 + 10 * S, override="   ")
    inc.collect_events()
    inc.close(actor=SUP, at=T0 + 10 * S, override="police closed it on their side")
    assert names(inc) == ["ProcedureOverridden", "Closed"]
    assert inc.procedure_override == "police closed it on their side"

    done = reach(Status.RESOLVED)
    done.complete_step(step="verify_on_camera", actor=A, at=T0 + 9 * S)
    done.skip_step(step="call_police", reason="not needed", actor=A, at=T0 + 9 * S)
    done.collect_events()
    done.close(actor=SUP, at=T0 + 10 * S)  # the optional step may stay open
    assert names(done) == ["Closed"]


def test_an_overdue_mandatory_step_escalates_once() -> None:
    inc = opened()
    assert inc.next_step_due() == ("verify_on_camera", T0 + 30 * S)
    assert not inc.escalate_overdue_step(step="verify_on_camera", actor="rule:x", at=T0 + 29 * S)
    inc.collect_events()
    assert inc.escalate_overdue_step(step="verify_on_camera", actor="rule:x", at=T0 + 31 * S)
    assert names(inc) == ["StepOverdue", "Escalated"]
    assert (inc.level, inc.status) == (1, Status.OPEN)
    assert not inc.escalate_overdue_step(step="verify_on_camera", actor="rule:x", at=T0 + 40 * S)
    assert inc.next_step_due() == ("call_police", T0 + 90 * S)
    inc.complete_step(step="call_police", actor=A, at=T0 + 80 * S)
    assert not inc.escalate_overdue_step(step="call_police", actor="rule:x", at=T0 + 91 * S)
    assert inc.next_step_due() is None
    assert not inc.escalate_overdue_step(step="tell_owner", actor="rule:x", at=T0 + 999 * S)
    with pytest.raises(InvalidCommand):
        inc.escalate_overdue_step(step="dance", actor="rule:x", at=T0 + 91 * S)


def test_at_the_top_level_an_overdue_step_is_still_recorded() -> None:
    inc = opened()
    inc.escalate(level=MAX_LEVEL, severity=4, reason="by hand", actor=SUP, at=T0)
    inc.collect_events()
    assert inc.escalate_overdue_step(step="verify_on_camera", actor="rule:x", at=T0 + 31 * S)
    assert names(inc) == ["StepOverdue"]


# --- two-person verification ----------------------------------------------------------------


def test_dispatch_waits_for_a_second_operator() -> None:
    inc = opened()
    inc.acknowledge(actor=A, at=T0 + S)
    with pytest.raises(NotVerified):
        inc.dispatch(unit="p-1", actor=A, at=T0 + 2 * S)
    with pytest.raises(SamePerson):
        inc.verify(actor=A, at=T0 + 2 * S)
    with pytest.raises(SamePerson):
        inc.reject_verification(reason="no", actor=A, at=T0 + 2 * S)
    inc.verify(actor=B, at=T0 + 2 * S)
    with pytest.raises(InvalidCommand, match="already verified by operator:bob"):
        inc.verify(actor=SUP, at=T0 + 2 * S)
    inc.dispatch(unit="p-1", actor=A, at=T0 + 3 * S)
    assert (inc.status, inc.verified_by, inc.acknowledged_by) == (Status.DISPATCHED, B, A)


@pytest.mark.parametrize("status", [s for s in Status
                                    if s not in {Status.ACKNOWLEDGED, Status.MERGED}])
def test_verification_only_between_acknowledgement_and_dispatch(status: Status) -> None:
    inc = reach(status)
    inc.verification_required = True  # reach() built it without; the guard is what is tested
    with pytest.raises(IllegalTransition):
        inc.verify(actor=B, at=T0 + 9 * S)
    with pytest.raises(IllegalTransition):
        inc.reject_verification(reason="no", actor=B, at=T0 + 9 * S)


def test_kinds_without_two_person_rule_need_no_verification() -> None:
    inc = opened(two_person=False)
    inc.acknowledge(actor=A, at=T0 + S)
    with pytest.raises(InvalidCommand, match="needs no two-person verification"):
        inc.verify(actor=B, at=T0 + 2 * S)
    inc.dispatch(unit="p-1", actor=A, at=T0 + 2 * S)


def test_a_rejection_is_a_false_alarm_naming_both() -> None:
    inc = opened()
    inc.acknowledge(actor=A, at=T0 + S)
    with pytest.raises(InvalidCommand, match="reason"):
        inc.reject_verification(reason="", actor=B, at=T0 + 2 * S)
    inc.collect_events()
    inc.reject_verification(reason="a toy pistol", actor=B, at=T0 + 2 * S)
    rejected, false_alarm = inc.collect_events()
    assert type(rejected).__name__ == "VerificationRejected"
    assert (rejected.acknowledged_by, rejected.actor, rejected.reason) == (  # type: ignore[attr-defined]
        A, B, "a toy pistol")
    assert inc.status is Status.FALSE_ALARM
    reason = false_alarm.reason  # type: ignore[attr-defined]
    assert A in reason and B in reason and "toy" not in reason  # free text stays in its field


# --- replay, and a property over arbitrary command sequences ----------------------------------

ACTORS = st.sampled_from([A, B, SUP])
COMMAND = st.one_of(
    st.tuples(st.just("ack"), ACTORS), st.tuples(st.just("verify"), ACTORS),
    st.tuples(st.just("reject"), ACTORS), st.tuples(st.just("dispatch"), ACTORS),
    st.tuples(st.just("resolve"), ACTORS), st.tuples(st.just("close"), ACTORS),
    st.tuples(st.just("override"), ACTORS),
    st.tuples(st.sampled_from(["complete", "skip"]), st.sampled_from([s["key"] for s in STEPS])),
    st.tuples(st.just("tick"), st.integers(0, 200)),
)


def _do(inc: Incident, command: tuple[str, Any], at: datetime) -> None:
    name, arg = command
    run: dict[str, Any] = {
        "ack": lambda: inc.acknowledge(actor=arg, at=at),
        "verify": lambda: inc.verify(actor=arg, at=at),
        "reject": lambda: inc.reject_verification(reason="no", actor=arg, at=at),
        "dispatch": lambda: inc.dispatch(unit="u", actor=arg, at=at),
        "resolve": lambda: inc.resolve(resolution="ok", actor=arg, at=at),
        "close": lambda: inc.close(actor=arg, at=at),
        "override": lambda: inc.close(actor=arg, at=at, override="supervisor says so"),
        "complete": lambda: inc.complete_step(step=arg, actor=A, at=at),
        "skip": lambda: inc.skip_step(step=arg, reason="n/a", actor=A, at=at),
        "tick": lambda: inc.next_step_due() and inc.escalate_overdue_step(
            step=inc.next_step_due()[0], actor="rule:x", at=T0 + arg * S),  # type: ignore[index]
    }
    with contextlib.suppress(IncidentError):  # refusals are part of the sequence
        run[name]()


@settings(max_examples=150, deadline=None)
@given(st.lists(COMMAND, max_size=14))
def test_any_sequence_keeps_the_rules_and_replays_the_same(commands: list[tuple[str, Any]]
                                                           ) -> None:
    inc = opened()
    for n, command in enumerate(commands):
        _do(inc, command, T0 + (n + 1) * S)
    app: Application[Any] = Application()
    app.save(inc)
    events = list(app.repository.event_store.get(inc.id))
    kinds = [type(e).__name__ for e in events]
    if "Dispatched" in kinds:  # dispatch only after a second person's Verified
        first = kinds.index("Dispatched")
        verified = [e for e in events[:first] if type(e).__name__ == "Verified"]
        assert verified and verified[0].actor != verified[0].acknowledged_by  # type: ignore[attr-defined]
    if "Closed" in kinds:  # every mandatory step settled, or an override said why
        assert not inc.outstanding_steps() or "ProcedureOverridden" in kinds
    assert len(inc.overdue_steps) == kinds.count("StepOverdue")
    replayed = app.repository.get(inc.id)
    for field in ("status", "step_outcomes", "overdue_steps", "verified_by", "acknowledged_by",
                  "level", "procedure_override", "version"):
        assert getattr(replayed, field) == getattr(inc, field), field


# --- the application: procedures at opening, step deadlines through the timers ---------------


def _app(sites: dict[str, Site] | None = None) -> IncidentApp:
    routing = RoutingPolicy(sites=SiteDirectory(sites or {}))
    return IncidentApp(None, default_rules(), routing, SHIPPED)


def _open(app: IncidentApp, kind: str, site: str) -> Incident:
    from domain.incident import incident_id_for

    key = f"{kind}:site={site}"
    incident_id = incident_id_for(key, 0)
    dets = tuple(det(kind, source="cam-7", site=site, seconds=i) for i in range(3))
    app.apply(OpenIncident(key, Kind(kind), 0, incident_id, dets, None, T0), T0)
    return app.incident(incident_id)


def test_opening_records_the_procedure_in_force_and_two_person_rule() -> None:
    app = _app({"school-12": Site("school-12", type="school")})
    fire = _open(app, "fire", "school-12")
    assert fire.procedure == "fire-school@1" and not fire.verification_required
    assert [s["key"] for s in fire.steps][-1] == "notify_school_director"
    weapon = _open(app, "weapon", "yard-3")
    assert (weapon.procedure, weapon.verification_required) == ("weapon@1", True)
    stored = [type(e).__name__ for e in app.repository.event_store.get(weapon.id)]
    assert stored[:3] == ["Opened", "ProcedureAssigned", "VerificationRequired"]
    crowd_app = IncidentApp(None, default_rules())  # no procedures given: none assigned
    crowd = _open(crowd_app, "weapon", "yard-3")
    assert (crowd.procedure, crowd.verification_required) == (None, False)


def test_a_missed_step_deadline_escalates_through_the_timer() -> None:
    app = _app()
    inc = _open(app, "fire", "plant-1")
    applied = app.apply(OpenIncident(inc.incident_key, Kind.FIRE, 0, inc.id, (), None, T0), T0)
    assert applied is not None and applied.snapshot is not None
    episode = applied.snapshot.episode
    assert (episode.step, episode.step_due_at) == ("verify_on_camera", T0 + 60 * S)
    state = KeyState(inc.incident_key, Kind.FIRE, episode=episode, next_episode=1)
    app.acknowledge(inc.id, by="alice", at=T0 + 10 * S)  # acknowledged: the SLA stops, steps not
    state = KeyState(state.key, state.group, episode=Episode(
        **{**{f: getattr(episode, f) for f in Episode.__dataclass_fields__},
           "status": Status.ACKNOWLEDGED}), next_episode=1)
    early = tick({state.key: state}, default_rules(), T0 + 59 * S)
    assert early.decisions == []
    out = tick({state.key: state}, default_rules(), T0 + 61 * S)
    [decision] = out.decisions
    assert isinstance(decision, Escalate) and decision.step == "verify_on_camera"
    again = tick(out.changes, default_rules(), T0 + 62 * S)  # type: ignore[arg-type]
    assert again.decisions == []  # the cache waits for the store's answer
    result = app.apply(decision, T0 + 61 * S)
    stored = app.incident(inc.id)
    assert stored.overdue_steps == {"verify_on_camera"} and stored.level == 1
    assert result is not None and result.snapshot is not None
    assert result.snapshot.episode.step == "call_fire_service"
    assert app.apply(decision, T0 + 61 * S) is not None  # redelivered: nothing more recorded
    assert app.incident(inc.id).version == stored.version


# --- what the agency feeds and readers get of the new events ---------------------------------


@pytest.mark.parametrize("event", ["StepSkipped", "ProcedureOverridden", "VerificationRejected"])
def test_reasons_are_free_text_minimised_per_agency(event: str) -> None:
    """The relay and the API minimise by `domain.privacy`: a reason may name anyone, so only
    audiences whose policy keeps free text get it; the rest of the event goes to all."""
    from domain.privacy import DEFAULT_POLICIES, READER_POLICIES, Action, Tag, minimise

    data = {"reason": "Ivanov said so", "step": "call_police", "steps": ["call_police"],
            "acknowledged_by": A, "actor": B}
    for agency in (*DEFAULT_POLICIES, "auditor"):
        out = minimise(event, data, agency, READER_POLICIES)
        keeps = READER_POLICIES[agency].get(Tag.FREE_TEXT) is Action.KEEP
        assert ("reason" in out) is keeps, agency
        assert {k: v for k, v in out.items() if k != "reason"} == {
            k: v for k, v in data.items() if k != "reason"}


def test_assigned_steps_and_verification_carry_no_personal_data() -> None:
    from domain.privacy import DEFAULT_POLICIES, minimise

    steps = [s.as_fact() for s in SHIPPED.procedures[0].steps]
    for agency in DEFAULT_POLICIES:
        assert minimise("ProcedureAssigned", {"procedure": "fire@1", "steps": steps},
                        agency)["steps"] == steps
        assert minimise("Verified", {"acknowledged_by": A}, agency) == {"acknowledged_by": A}


def test_the_example_procedures_load() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "examples" / "procedures.toml").read_text()
    example = load_procedures(text, "examples/procedures.toml")
    assert example.version > SHIPPED.version
    assert example.for_incident("crowd", "school") is not None
