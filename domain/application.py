"""The incident application service (an eventsourcing `Application`).

Thin use cases: load → call the aggregate → save, translating library errors into ours.
Two kinds of callers:

* the correlator carries out `Decision`s (open, add evidence, reopen, auto-resolve, escalate,
  observe) and gets back `Applied` results that say what the store now holds, so its cache can
  be corrected when an operator or another worker changed the incident meanwhile;
* operators (through the API or CLI) run typed lifecycle commands with an `expected_version`
  (`domain.commands`, carried out by `domain.operations`).

The persistence module (SQLite or PostgreSQL) comes from the `env` passed in by the
composition root; nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.correlation import (
    WATCHLIST_KINDS,
    AddEvidence,
    AutoResolve,
    Decision,
    Episode,
    Escalate,
    IncidentSnapshot,
    Observe,
    OpenIncident,
    ReopenIncident,
    correlation_key,
)
from domain.detection import Detection
from domain.errors import IllegalTransition
from domain.incident import Incident, Origin, coalesce_snapshots, incident_id_for
from domain.kinds import TERMINALISH_STATUSES, Kind, Status
from domain.legal import ErasureRecords
from domain.observations import (
    BelowRuleTally,
    CanteenTally,
    ObservationConflict,
    PickupLog,
    below_rule_tally_id,
    canteen_tally_id,
    pickup_log_id,
)
from domain.operations import Guard, OperatorCommands
from domain.privacy import SHREDDED
from domain.procedures import ProcedureSet
from domain.queries import IncidentQueries
from domain.routing import RoutingPolicy
from domain.rules import RuleSet, Schedule
from domain.silencing import SilenceCommands
from domain.track import CorrelationTrack, track_id_for

__all__ = ["Applied", "Guard", "IncidentApp", "origin_of", "snapshot_of"]

PERSONAL_ATTRIBUTES = ("subject_id", "plate")
OBSERVATION_ATTEMPTS = 5
MAX_MERGE_HOPS = 16
"""Merged into an incident that was merged in turn…: how far evidence follows (a cycle is
impossible — a merged incident takes no merge — but a bound costs nothing)."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What the store holds after a decision; `refused` detections must be re-correlated.

    `next_episode` is only set where the store knows more than the snapshot says (the key's
    track); otherwise the episode after the snapshot's is implied.
    """

    snapshot: IncidentSnapshot | None
    next_episode: int = 0
    refused: tuple[Detection, ...] = ()
    changed: bool = False


def snapshot_of(incident: Incident) -> IncidentSnapshot:
    return IncidentSnapshot(incident.incident_key, Episode(
        incident_id=incident.id, number=incident.episode, status=incident.status,
        level=incident.level, severity=incident.severity, opened_at=incident.opened_at,
        sla_due_at=incident.sla_due_at, last_seen_at=incident.last_seen_at,
        resolved_at=incident.resolved_at, **_step_due(incident),
    ))


def _step_due(incident: Incident) -> dict[str, Any]:
    """The next mandatory step deadline the timers watch (`Episode.step`, `step_due_at`)."""
    due = incident.next_step_due()
    return {"step": due[0], "step_due_at": due[1]} if due else {}


def _result(incident: Incident, refused: Sequence[Detection] = (), *,
            changed: bool = False) -> Applied:
    return Applied(snapshot_of(incident), refused=tuple(refused), changed=changed)


def _keyed(applied: Applied, key: str) -> Applied:
    """`applied` naming `key` where the store reads the incident's own key as shredded.

    The correlator keys its cache by the correlation key it asked about; after a shred the
    incident's `incident_key` reads `[shredded]`, so the answer names the caller's key.
    """
    snap = applied.snapshot
    if snap is None or snap.key != SHREDDED or not key:
        return applied
    return replace(applied, snapshot=replace(snap, key=key))


def _redirected(applied: Applied, key: str, number: int) -> Applied:
    """`applied` as the correlator should cache it for `key` (episode `number`) when the
    incident it names is one the key was redirected to by a merge."""
    snap = applied.snapshot
    if snap is None:
        return applied
    return replace(applied, snapshot=IncidentSnapshot(key, replace(snap.episode, number=number)))


def _redirected_from(applied: Applied, merged: Incident | None) -> Applied:
    """`applied` (about the live incident) as seen by the key of `merged`, if it was merged."""
    if merged is None:
        return applied
    return _redirected(applied, merged.incident_key, merged.episode)


def _earliest_first(dets: Sequence[Detection]) -> list[Detection]:
    """`dets` by (observed_at, detection_id): the first is the origin, whatever the arrival."""
    return sorted(dets, key=lambda d: (d.observed_at, d.detection_id))


def origin_of(dets: Sequence[Detection]) -> Origin:
    """The earliest of `dets` as an incident's origin (site, location, primary source)."""
    first = _earliest_first(dets)[0]
    location = {"lat": first.location.lat, "lon": first.location.lon} if first.location else None
    return Origin(first.observed_at, first.detection_id, first.source_id, first.site_id,
                  location)


def _attach_appeals(incident: Incident, dets: Sequence[Detection], actor: str,
                    now: datetime) -> None:
    """`AppealAttached` for each citizen's appeal among `dets` (once per appeal id)."""
    for d in dets:
        if d.kind is Kind.CITIZEN_REPORT:
            text = d.attributes.get("text")
            incident.attach_appeal(appeal_id=str(d.attributes["appeal_id"]),
                                   category=str(d.attributes["category"]),
                                   text=text if isinstance(text, str) else None,
                                   actor=actor, at=now)


def _evidence_fields(dets: Sequence[Detection]) -> dict[str, Any]:
    return {
        "detection_ids": [d.detection_id for d in dets],
        "source_ids": list(dict.fromkeys(d.source_id for d in dets)),
        "count": len(dets),
        "first_seen_at": min(d.observed_at for d in dets),
        "last_seen_at": max(d.observed_at for d in dets),
        "max_confidence": max(d.confidence for d in dets),
        "snapshots": coalesce_snapshots({"ref": d.snapshot.uri, "sha256": d.snapshot.sha256}
                                        for d in dets if d.snapshot is not None),
    }


class IncidentApp(OperatorCommands, ErasureRecords, IncidentQueries, SilenceCommands):
    """Kuzet's application: incidents, correlation tracks and observations in one store.

    Composed by use case: the correlator's decisions and observations (here), people's
    commands (`domain.operations`), legal hold and erasure (`domain.legal`), reads
    (`domain.queries`); all share the loading in `domain.loading`.
    """

    name = "kuzet"

    def __init__(self, env: dict[str, str] | None, rules: RuleSet,
                 routing: RoutingPolicy | None = None,
                 procedures: ProcedureSet | None = None) -> None:
        super().__init__(env)
        self.rules = rules
        self.routing = routing or RoutingPolicy()
        self.procedures = procedures or ProcedureSet()
        """Checklists and two-person kinds given to incidents as they open (none: none)."""

    def _follow_procedure(self, incident: Incident, now: datetime) -> None:
        """Record on a new incident the procedure in force for its kind and site type, and
        whether its dispatch needs a second operator (`ProcedureAssigned`,
        `VerificationRequired`), by the rule that opened it."""
        site = self.routing.sites.get(incident.site_id)
        procedure = self.procedures.for_incident(incident.kind, site.type if site else None)
        if procedure is not None:
            incident.assign_procedure(procedure=self.procedures.ref(procedure),
                                      steps=[s.as_fact() for s in procedure.steps],
                                      actor=incident.rule, at=now)
        if self.procedures.needs_two_people(incident.kind):
            incident.require_verification(policy=f"procedures@{self.procedures.version}",
                                          actor=incident.rule, at=now)

    def _agencies(self, kind: Kind, site_id: str | None, severity: int) -> list[str]:
        """The rule's agencies plus every matching route's (routing policy, one place)."""
        base = [a.value for a in self.rules.groups[kind].agencies]
        return list(self.routing.agencies_for(kind.value, site_id, severity, base))

    def key_state(self, key: str) -> Applied:
        """A cold correlator's view of `key`: its next episode and latest incident."""
        track = self._get(track_id_for(key), CorrelationTrack)
        if track is None or track.latest_incident_id is None:
            return Applied(None, 0)
        latest, _ = self._live(track.latest_incident_id)
        applied = Applied(snapshot_of(latest), track.next_episode)
        if latest.id != incident_id_for(key, track.next_episode - 1):  # merged: redirected
            applied = _redirected(applied, key, track.next_episode - 1)
        return _keyed(applied, key)

    def _live(self, incident_id: UUID, loaded: dict[UUID, Incident] | None = None, *,
              copy: bool = True, held: bool = False) -> tuple[Incident, Incident | None]:
        """The incident evidence for `incident_id` belongs in: itself, or the incident it was
        merged into (followed to the end), with the merged one asked for (None if not merged).
        `loaded` caches live incidents across a batch (`copy`: as `IncidentStore._get`;
        `held`: the cached objects as they are, `IncidentStore.held_incident`)."""
        cache = loaded if loaded is not None else {}
        load: Callable[[UUID], Incident] = (self.held_incident if held
                                            else partial(self.incident, copy=copy))
        asked = cache.get(incident_id) or load(incident_id)
        incident = asked
        for _ in range(MAX_MERGE_HOPS):
            if incident.merged_into is None:
                break
            into = UUID(incident.merged_into)
            incident = cache.get(into) or load(into)
        cache[incident.id] = incident
        return incident, (asked if asked is not incident else None)

    # --- the correlator's decisions --------------------------------------------------------

    def apply(self, decision: Decision, now: datetime) -> Applied | None:
        """Carry out one correlator decision; idempotent under redelivery."""
        applied = self._carry_out(decision, now)
        return None if applied is None else _keyed(applied, getattr(decision, "key", ""))

    def _carry_out(self, decision: Decision, now: datetime) -> Applied | None:
        if isinstance(decision, OpenIncident):
            return self.open_incident(decision, now)
        if isinstance(decision, AddEvidence):
            return self.add_evidence(decision.incident_id, decision.detections, now,
                                     suppressed=decision.suppressed)
        if isinstance(decision, ReopenIncident):
            return self.reopen_by_rule(decision, now)
        if isinstance(decision, AutoResolve | Escalate):
            return self.run_timer(decision)
        if isinstance(decision, Observe):
            self.record_observations([decision.detection], now)
        return None  # Observe and Skipped leave no incident to report

    def open_incident(self, d: OpenIncident, now: datetime) -> Applied:
        existing = self._get(d.incident_id, Incident)
        if existing is not None:  # redelivery, or another worker won the race (or a merge)
            incident, merged = self._live(existing.id, {existing.id: existing})
            return _redirected_from(self._join(incident, d.detections, now, suppressed=False),
                                    merged)
        track = self._get(track_id_for(d.key), CorrelationTrack)
        if track is None:
            track = CorrelationTrack(key=d.key, timestamp=now)
        if track.next_episode != d.episode:  # the cache was stale: let the caller re-decide
            return replace(self.key_state(d.key), refused=d.detections)
        incident = self._new_incident(d, now)
        self._follow_procedure(incident, now)
        _attach_appeals(incident, d.detections, self.rules.rule_ref(d.group), now)
        track.start_episode(incident_id=incident.id, at=now)
        try:
            self.save(track, incident)
        except IntegrityError:  # another worker opened this episode first
            return replace(self.key_state(d.key), refused=d.detections)
        return _result(incident, changed=True)

    def _new_incident(self, d: OpenIncident, now: datetime) -> Incident:
        group = self.rules.groups[d.group]
        dets = _earliest_first(d.detections)  # the origin first: its site, its source
        site = next((x.site_id for x in dets if x.site_id), None)
        location = next((x.location for x in dets if x.location), None)
        subject = {a: x.attributes[a] for x in dets for a in PERSONAL_ATTRIBUTES
                   if isinstance(x.attributes.get(a), str)}
        ev = _evidence_fields(dets)
        return Incident(
            incident_key=d.key, episode=d.episode, kind=d.group.value,
            severity=group.severity, site_id=site,
            location={"lat": location.lat, "lon": location.lon} if location else None,
            source_ids=ev["source_ids"], detection_ids=ev["detection_ids"],
            first_seen_at=ev["first_seen_at"], last_seen_at=ev["last_seen_at"],
            sla_due_at=now + group.sla_ack,
            agencies=self._agencies(d.group, site, group.severity), subject=subject,
            linked_to=str(d.linked_to) if d.linked_to else None,
            rule=self.rules.rule_ref(d.group), actor=self.rules.rule_ref(d.group), timestamp=now,
            snapshots=ev["snapshots"],
        )

    def _join(self, incident: Incident, dets: Sequence[Detection], now: datetime, *,
              suppressed: bool) -> Applied:
        applied = self._stage(incident, dets, now, suppressed=suppressed)
        if not applied.changed:
            return applied
        try:
            self.save(incident)
        except IntegrityError:  # an operator wrote meanwhile: reload and try once more
            return self._join(self.incident(incident.id), dets, now, suppressed=suppressed)
        return applied

    def add_evidence(self, incident_id: UUID, dets: Sequence[Detection], now: datetime, *,
                     suppressed: bool = False) -> Applied:
        """Evidence for `incident_id` (or the incident it was merged into)."""
        incident, merged = self._live(incident_id)
        return _redirected_from(self._join(incident, dets, now, suppressed=suppressed), merged)

    def add_evidence_batch(self, batches: Sequence[tuple[UUID, Sequence[Detection], bool]],
                           now: datetime) -> list[Applied]:
        applied = self._add_evidence_batch(batches, now)
        return [_keyed(a, correlation_key(dets[0], self.rules) if dets else "")
                for a, (_, dets, _) in zip(applied, batches, strict=True)]

    def _add_evidence_batch(self, batches: Sequence[tuple[UUID, Sequence[Detection], bool]],
                            now: datetime) -> list[Applied]:
        """`add_evidence` for many incidents in one transaction (one commit, not one each).

        Each item is (incident id, detections, suppressed); an incident may appear twice (its
        plain and its suppressed evidence). The incidents are the aggregate cache's own
        objects, as they are: no deepcopy, and no read of events stored since they were
        cached (`held_incident`: the correlator owns these keys, and its own saves keep its
        cached copies current). If the transaction conflicts (an operator wrote one of them
        meanwhile, or the cached copy was older), every item is retried on its own, freshly
        loaded, so one busy incident never costs the others their evidence.
        """
        results: list[Applied] = []
        loaded: dict[UUID, Incident] = {}
        try:  # forgotten unless saved
            for incident_id, dets, suppressed in batches:
                incident, merged = self._live(incident_id, loaded, held=True)
                results.append(_redirected_from(
                    self._stage(incident, dets, now, suppressed=suppressed), merged))
            changed = [i for i in loaded.values() if i.pending_events]
            if changed:
                self.save(*changed)
        except IntegrityError:
            self.forget([*loaded, *(i for i, _, _ in batches)])
            return [self.add_evidence(i, d, now, suppressed=s) for i, d, s in batches]
        except BaseException:
            self.forget([*loaded, *(i for i, _, _ in batches)])
            raise
        return results

    def _stage(self, incident: Incident, dets: Sequence[Detection], now: datetime, *,
               suppressed: bool) -> Applied:
        """Trigger EvidenceAdded for the new detections (unsaved); say what changed.

        A resolved (closed, false-alarm) incident takes the detections observed before its
        resolution as late evidence; those observed after are refused (the correlator decides
        again: reopen, or a new incident)."""
        fresh = set(incident.new_evidence(d.detection_id for d in dets))
        keep = [d for d in dets if d.detection_id in fresh]
        if not keep:
            return _result(incident)
        actor = self.rules.rule_ref(Kind(incident.kind))
        if incident.is_active:
            incident.add_evidence(**_evidence_fields(keep), suppressed=suppressed, actor=actor,
                                  at=now, origin=origin_of(keep))
            _attach_appeals(incident, keep, actor, now)
            return _result(incident, changed=True)
        resolved = incident.resolved_at
        late = [d for d in keep if resolved is not None and d.observed_at <= resolved]
        refused = [d for d in keep if d not in late]
        if late:
            incident.add_late_evidence(**_evidence_fields(late), actor=actor, at=now,
                                       origin=origin_of(late))
            _attach_appeals(incident, late, actor, now)
        return _result(incident, refused, changed=bool(late))

    def reopen_by_rule(self, d: ReopenIncident, now: datetime) -> Applied:
        incident, merged = self._live(d.incident_id)
        if merged is not None:  # merged meanwhile: the detections join (or reopen) the target
            return _redirected_from(self.reopen_by_rule(replace(
                d, incident_id=incident.id), now), merged)
        if incident.is_active:
            return self._join(incident, d.detections, now, suppressed=False)
        group = self.rules.groups[Kind(incident.kind)]
        newest = max(x.observed_at for x in d.detections)
        resolved = incident.resolved_at
        if incident.status not in TERMINALISH_STATUSES or resolved is None \
                or newest - resolved > group.reopen_within or newest <= resolved:
            return _result(incident, d.detections)
        incident.reopen(reason="detected again within reopen window",
                        detection_ids=[x.detection_id for x in d.detections],
                        snapshots=_evidence_fields(d.detections)["snapshots"],
                        actor=self.rules.rule_ref(group.kind), at=now)
        try:
            self.save(incident)
        except IntegrityError:
            return _result(self.incident(d.incident_id), d.detections)
        return _result(incident, changed=True)

    def _seen_lately(self, incident: Incident, at: datetime) -> bool:
        """The store holds evidence newer than the rule's quiet time: the caller's cache was
        stale (a merged incident's key fed this incident), so no auto-resolve now."""
        quiet = self.rules.groups[Kind(incident.kind)].auto_resolve_after
        return quiet is not None and at - incident.last_seen_at < quiet

    def run_timer(self, d: AutoResolve | Escalate) -> Applied:
        """Auto-resolve or escalate by rule; a no-op if an operator got there first (or the
        incident was merged: the timers of the target run on its own state)."""
        incident, merged = self._live(d.incident_id)
        if merged is not None:
            return _redirected_from(_result(incident), merged)
        actor = self.rules.rule_ref(Kind(incident.kind))
        try:
            if isinstance(d, Escalate) and d.step is not None:
                if not incident.escalate_overdue_step(step=d.step, actor=actor, at=d.at):
                    return _result(incident)
            elif isinstance(d, AutoResolve):
                if self._seen_lately(incident, d.at):  # evidence via a merged key
                    return _result(incident)
                incident.auto_resolve(reason=d.reason, actor=actor, at=d.at)
            elif incident.status in {Status.OPEN, Status.REOPENED} and d.level > incident.level:
                incident.escalate(level=d.level, severity=d.severity, reason=d.reason,
                                  actor=actor, at=d.at)
            else:
                return _result(incident)
            self.save(incident)
        except (IllegalTransition, IntegrityError):
            return _result(self.incident(d.incident_id))
        return _result(incident, changed=True)

    # --- observations ---------------------------------------------------------------------

    def record_observations(self, dets: Sequence[Detection], now: datetime) -> None:
        """Fold canteen counts, waste pickups and below-rule watch-list matches into their
        aggregates."""
        tallies: dict[tuple[str, str, str], list[Detection]] = {}
        pickups: dict[tuple[str, str], list[Detection]] = {}
        below: dict[tuple[str, str], list[Detection]] = {}
        for d in dets:
            day = d.observed_at.date().isoformat()
            if d.kind is Kind.CANTEEN_COUNT and d.site_id:
                tallies.setdefault((d.site_id, day, str(d.attributes["meal"])), []).append(d)
            elif d.kind is Kind.WASTE_PICKUP:
                pickups.setdefault((d.site_id or d.source_id, day), []).append(d)
            elif d.kind in WATCHLIST_KINDS:
                below.setdefault((d.kind.value, day), []).append(d)
        for (site, day, meal), group in tallies.items():
            self._tally(site, day, meal, group, now)
        for (site, day), group in pickups.items():
            self._pickup(site, day, group, now)
        for (kind, day), group in below.items():
            self._below_rule(kind, day, group, now)

    def _below_rule(self, kind: str, day: str, dets: list[Detection], now: datetime) -> None:
        matches = [(d.detection_id, d.confidence) for d in dets]

        def fold() -> BelowRuleTally | None:
            tally = self._get(below_rule_tally_id(kind, day), BelowRuleTally)
            tally = tally or BelowRuleTally(kind=kind, day=day, timestamp=now)
            return tally if tally.count_matches(matches=matches, at=now) else None

        self._save_observation(below_rule_tally_id(kind, day), fold)

    def below_rule_tally(self, kind: str, day: str) -> BelowRuleTally | None:
        return self._get(below_rule_tally_id(kind, day), BelowRuleTally)

    def _tally(self, site: str, day: str, meal: str, dets: list[Detection], now: datetime) -> None:
        samples = [(d.detection_id, int(d.attributes["count"]), d.observed_at) for d in dets]

        def fold() -> CanteenTally | None:
            tally = self._get(canteen_tally_id(site, day, meal), CanteenTally)
            tally = tally or CanteenTally(site_id=site, day=day, meal=meal, timestamp=now)
            return tally if tally.count(samples=samples, at=now) else None

        self._save_observation(canteen_tally_id(site, day, meal), fold)

    def _pickup(self, site: str, day: str, dets: list[Detection], now: datetime) -> None:
        def fold() -> PickupLog | None:
            log = self._get(pickup_log_id(site, day), PickupLog)
            log = log or PickupLog(site_id=site, day=day, timestamp=now)
            seen = log.seen(observed_at=[d.observed_at for d in dets],
                            detection_ids=[d.detection_id for d in dets], at=now)
            return log if seen else None

        self._save_observation(pickup_log_id(site, day), fold)

    def _save_observation(self, aggregate_id: UUID, fold: Callable[[], Any | None]) -> None:
        """Save what `fold` made of a fresh load; a concurrent writer's win means load and
        fold again (the aggregate ignores what it already holds), `ObservationConflict` after
        `OBSERVATION_ATTEMPTS` — never a silent loss."""
        for _ in range(OBSERVATION_ATTEMPTS):
            aggregate = fold()
            if aggregate is None:
                return
            try:
                self.save(aggregate)
            except IntegrityError:
                continue
            return
        raise ObservationConflict(aggregate_id, OBSERVATION_ATTEMPTS)

    def canteen_tally(self, site: str, day: str, meal: str) -> CanteenTally | None:
        return self._get(canteen_tally_id(site, day, meal), CanteenTally)

    def check_schedule(self, schedule: Schedule, start: datetime, end: datetime,
                       now: datetime) -> Applied | None:
        """Open a "missed" incident if no pickup was seen in [start, end); idempotent."""
        day = start.astimezone(schedule.utc_offset).date().isoformat()
        log = self._get(pickup_log_id(schedule.site_id, day), PickupLog)
        if log is not None and any(start <= t < end for t in log.seen_at):
            return None
        key = f"{schedule.kind.value}:missed:{schedule.site_id}:{day}"
        if self._get(incident_id_for(key, 0), Incident) is not None:
            return None
        decision = OpenIncident(key, schedule.kind, 0, incident_id_for(key, 0), (), None, now)
        return self._open_missed(decision, schedule, start, end, now)

    def _open_missed(self, d: OpenIncident, schedule: Schedule, start: datetime, end: datetime,
                     now: datetime) -> Applied:
        group = self.rules.groups[schedule.kind]
        track = CorrelationTrack(key=d.key, timestamp=now)
        incident = Incident(
            snapshots=[],
            incident_key=d.key, episode=0, kind=schedule.kind.value, severity=group.severity,
            site_id=schedule.site_id, location=None, source_ids=[], detection_ids=[],
            first_seen_at=start, last_seen_at=end, sla_due_at=now + group.sla_ack,
            agencies=self._agencies(schedule.kind, schedule.site_id, group.severity),
            subject={"missed": schedule.id},
            linked_to=None, rule=f"schedule:{schedule.id}@{self.rules.version}",
            actor=self.rules.rule_ref(schedule.kind), timestamp=now,
        )
        self._follow_procedure(incident, now)
        track.start_episode(incident_id=incident.id, at=now)
        try:
            self.save(track, incident)
        except IntegrityError:
            return Applied(None)
        return _result(incident, changed=True)


def schedule_windows(schedule: Schedule, since: datetime, until: datetime
                     ) -> list[tuple[datetime, datetime]]:
    """The schedule's windows that ended in (since, until]."""
    tz = schedule.utc_offset
    out = []
    day = since.astimezone(tz).date()
    while day <= until.astimezone(tz).date():
        if day.weekday() in schedule.days:
            midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
            start = midnight + timedelta(minutes=schedule.start_minute)
            end = midnight + timedelta(minutes=schedule.end_minute)
            if since < end <= until:
                out.append((start, end))
        day += timedelta(days=1)
    return out
