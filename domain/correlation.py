"""Correlation as pure functions: (state, detection, now) → (new state, decisions).

The streams layer owns a mutable map of `KeyState` per correlation key (its cache); these
functions read it and return only what changed, plus the `Decision`s the application must
carry out. Nothing here does I/O or reads a clock, so every rule is testable in microseconds.

Keys: a detection's correlation key is `<group>:<scope value>`, where the group is the kind's
rule group (smoke and fire_alarm join fire) and the scope comes from the group rule: the source,
the site (falling back to the source), the watch-list subject, the plate, or a ~`cell_m` grid
cell of the location. The *shard* of a key (what the correlation topic is partitioned by) is the
site where there is one, so every key that inhibition must see together lives in one partition.

Idempotence: candidate hits are de-duplicated by `detection_id`; evidence for an incident is
de-duplicated by the aggregate. Incident ids come from (key, episode), so re-running the same
detections from the same state yields the same decisions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from statistics import median
from uuid import UUID

from domain.detection import Detection, plate_key
from domain.incident import MAX_LEVEL, incident_id_for
from domain.kinds import ACTIVE_STATUSES, TERMINALISH_STATUSES, Kind, Status
from domain.rules import GroupRule, RuleSet

__all__ = [
    "WATCHLIST_KINDS",
    "AddEvidence",
    "AutoResolve",
    "Decision",
    "Episode",
    "Escalate",
    "IncidentSnapshot",
    "KeyState",
    "Observe",
    "OpenIncident",
    "Outcome",
    "ReopenIncident",
    "Skipped",
    "correlate",
    "correlation_key",
    "group_of_detection",
    "reconcile",
    "shard_key",
    "tick",
]

MAX_CANDIDATES = 256
"""Candidate hits kept per key; beyond this the oldest are forgotten (bounded memory)."""


@dataclass(frozen=True, slots=True)
class Episode:
    """The latest incident of a key, as far as the correlator knows."""

    incident_id: UUID
    number: int
    status: Status
    level: int
    severity: int
    opened_at: datetime
    sla_due_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None = None
    step: str | None = None
    """The outstanding mandatory procedure step whose deadline comes next (not escalated)."""
    step_due_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True, slots=True)
class IncidentSnapshot:
    """The store's view of a key's incident, as the correlator needs it (no personal data)."""

    key: str
    episode: Episode


@dataclass(frozen=True, slots=True)
class KeyState:
    key: str
    group: Kind
    hits: tuple[Detection, ...] = ()
    episode: Episode | None = None
    next_episode: int = 0


# --- decisions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenIncident:
    key: str
    group: Kind
    episode: int
    incident_id: UUID
    detections: tuple[Detection, ...]
    linked_to: UUID | None
    at: datetime


@dataclass(frozen=True, slots=True)
class AddEvidence:
    key: str
    incident_id: UUID
    detections: tuple[Detection, ...]
    suppressed: bool = False


@dataclass(frozen=True, slots=True)
class ReopenIncident:
    key: str
    incident_id: UUID
    detections: tuple[Detection, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class AutoResolve:
    key: str
    incident_id: UUID
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Escalate:
    key: str
    incident_id: UUID
    level: int
    severity: int
    at: datetime
    reason: str
    step: str | None = None
    """Set when a mandatory procedure step missed its deadline (not the SLA)."""


@dataclass(frozen=True, slots=True)
class Observe:
    """A non-incident kind (canteen counts, pickups) to aggregate into an observation."""

    detection: Detection


@dataclass(frozen=True, slots=True)
class Skipped:
    """A detection that changes nothing (below `min_score`, late for a resolved incident)."""

    detection: Detection
    reason: str


Decision = OpenIncident | AddEvidence | ReopenIncident | AutoResolve | Escalate | Observe | Skipped


@dataclass(slots=True)
class Outcome:
    changes: dict[str, KeyState | None] = field(default_factory=dict)
    """New state per key; None means the key can be forgotten (the store remembers)."""
    decisions: list[Decision] = field(default_factory=list)


# --- keys -----------------------------------------------------------------------------------


def _cell(det: Detection, cell_m: float) -> str | None:
    if det.location is None:
        return None
    lat_step = cell_m / 111_320.0
    lon_step = cell_m / (111_320.0 * max(math.cos(math.radians(det.location.lat)), 0.01))
    return f"{math.floor(det.location.lat / lat_step)}/{math.floor(det.location.lon / lon_step)}"


def _scope_value(det: Detection, group: GroupRule) -> str:
    scope = group.key
    if scope == "subject" and isinstance(det.attributes.get("subject_id"), str):
        return f"subject={det.attributes['subject_id']}"
    if scope == "plate" and isinstance(det.attributes.get("plate"), str):
        return "plate=" + plate_key(det.attributes["plate"])
    if scope == "cell" and (cell := _cell(det, group.cell_m)) is not None:
        return f"cell={cell}"
    if scope == "site" and det.site_id:
        return f"site={det.site_id}"
    return f"source={det.source_id}"


WATCHLIST_KINDS = frozenset({Kind.FACE_MATCH, Kind.PLATE_MATCH})
"""Matches against a watch-list: one below the rules' `min_score` is an observation
(`BelowRuleTally`), counted per day; other kinds' weak detections are skipped."""


def group_of_detection(det: Detection, rules: RuleSet) -> GroupRule:
    """The group `det` joins (an appeal joins its category's, `RuleSet.group_kind`)."""
    return rules.groups[rules.group_kind(det.kind, det.attributes)]


def correlation_key(det: Detection, rules: RuleSet) -> str:
    """The key that identifies "the same incident" for this detection."""
    return _key(det, group_of_detection(det, rules))


def _key(det: Detection, group: GroupRule) -> str:
    return f"{group.kind.value}:{_scope_value(det, group)}"


def shard_key(det: Detection, rules: RuleSet) -> str:
    """What the correlation topic is partitioned by: every key of one shard is co-located."""
    group = group_of_detection(det, rules)
    if group.key in {"subject", "plate", "cell"}:
        return correlation_key(det, rules)
    return f"site={det.site_id}" if det.site_id else f"source={det.source_id}"


# --- correlate ------------------------------------------------------------------------------


def _meets(hits: Sequence[Detection], rules: RuleSet) -> bool:
    """Some kind has `min_hits` hits inside one `window` and the median of its best
    `min_hits` scores there reaches `threshold`.

    Using the best scores (not all of them) keeps the test monotone: one more detection can
    never un-meet it, which makes the outcome independent of arrival order.
    """
    for kind in {h.kind for h in hits}:
        rule = rules.kinds[kind]
        times = sorted((h.observed_at, h.confidence) for h in hits if h.kind is kind)
        lo = 0
        for hi in range(len(times)):
            while times[hi][0] - times[lo][0] > rule.window:
                lo += 1
            if hi - lo + 1 < rule.min_hits:
                continue
            best = sorted((s for _, s in times[lo : hi + 1]), reverse=True)[: rule.min_hits]
            if median(best) >= rule.threshold:
                return True
    return False


def _retention(rules: RuleSet, group: Kind) -> timedelta:
    windows = [r.window for r in rules.kinds.values() if r.group is group]
    return max(windows) + rules.allowed_lateness


def _inhibitor(view: Mapping[str, KeyState], det: Detection,
               rules: RuleSet) -> tuple[str, Episode] | None:
    """The active incident at the detection's site whose group inhibits this kind, if any."""
    if not det.site_id:
        return None
    group = rules.group_kind(det.kind, det.attributes)
    for other in rules.groups.values():
        if other.kind is group or not ({det.kind, group} & other.inhibits):
            continue
        key = f"{other.kind.value}:site={det.site_id}"
        state = view.get(key)
        if state is not None and state.episode is not None and state.episode.active:
            return key, state.episode
    return None


def _open(state: KeyState, group: GroupRule, hits: tuple[Detection, ...], linked: UUID | None,
          now: datetime) -> tuple[KeyState, OpenIncident]:
    number = state.next_episode
    incident_id = incident_id_for(state.key, number)
    last_seen = max(h.observed_at for h in hits)
    episode = Episode(incident_id, number, Status.OPEN, 0, group.severity, now,
                      now + group.sla_ack, last_seen)
    new = replace(state, hits=(), episode=episode, next_episode=number + 1)
    return new, OpenIncident(state.key, group.kind, number, incident_id, hits, linked, now)


def _candidate(state: KeyState, det: Detection, rules: RuleSet, now: datetime,
               linked: UUID | None) -> tuple[KeyState, list[Decision]]:
    if any(h.detection_id == det.detection_id for h in state.hits):
        return state, []
    newest = max([det.observed_at, *(h.observed_at for h in state.hits)])
    horizon = newest - _retention(rules, state.group)
    hits = tuple(h for h in (*state.hits, det) if h.observed_at >= horizon)[-MAX_CANDIDATES:]
    if not _meets(hits, rules):
        return replace(state, hits=hits), []
    new, decision = _open(state, rules.groups[state.group], hits, linked, now)
    return new, [decision]


def _seen(state: KeyState, episode: Episode, at: datetime) -> KeyState:
    """`state` with its episode last seen `at`: `replace(state, episode=replace(episode,
    last_seen_at=at))`, built directly (two `dataclasses.replace` were half of `correlate`'s
    cost for plain evidence). Every field is passed on: tests/unit/test_correlation.py checks
    that this equals the two `replace` calls for each field."""
    e = episode
    return KeyState(state.key, state.group, state.hits,
                    Episode(e.incident_id, e.number, e.status, e.level, e.severity,
                            e.opened_at, e.sla_due_at, at, e.resolved_at, e.step,
                            e.step_due_at),
                    state.next_episode)


def correlate(view: Mapping[str, KeyState], det: Detection, rules: RuleSet,
              now: datetime) -> Outcome:
    """Decide what one detection changes. `view` is read, never mutated."""
    krule = rules.kinds[det.kind]
    if not krule.incident:
        return Outcome(decisions=[Observe(det)])
    if det.confidence < krule.min_score:
        if det.kind in WATCHLIST_KINDS:  # a published watch-list match: counted, not lost
            return Outcome(decisions=[Observe(det)])
        return Outcome(decisions=[Skipped(det, f"confidence below min_score {krule.min_score}")])
    group = group_of_detection(det, rules)
    key = _key(det, group)
    state = view.get(key) or KeyState(key, group.kind)
    episode = state.episode
    if episode is not None and episode.active:  # plain evidence: the hot path
        evidence = AddEvidence(key, episode.incident_id, (det,))
        if det.observed_at <= episode.last_seen_at:
            return Outcome(decisions=[evidence])
        return Outcome({key: _seen(state, episode, det.observed_at)}, [evidence])
    linked = None
    if episode is not None and episode.resolved_at is not None:
        if det.observed_at <= episode.resolved_at:
            if now - episode.resolved_at <= rules.late_evidence:  # the record stays complete
                return Outcome(decisions=[AddEvidence(key, episode.incident_id, (det,))])
            reason = ("observed before its incident was resolved, arrived past late_evidence_s "
                      f"({int(rules.late_evidence.total_seconds())})")
            return Outcome(decisions=[Skipped(det, reason)])
        if (episode.status in TERMINALISH_STATUSES
                and det.observed_at - episode.resolved_at <= group.reopen_within):
            reopened = replace(episode, status=Status.REOPENED, resolved_at=None,
                               last_seen_at=det.observed_at,
                               sla_due_at=now + group.sla_ack)
            return Outcome({key: replace(state, episode=reopened)},
                           [ReopenIncident(key, episode.incident_id, (det,), now)])
        linked = episode.incident_id
    elif episode is not None:
        linked = episode.incident_id
    inhibitor = _inhibitor(view, det, rules)
    if inhibitor is not None:
        by_key, by = inhibitor
        return Outcome(decisions=[AddEvidence(by_key, by.incident_id, (det,), suppressed=True)])
    new, decisions = _candidate(state, det, rules, now, linked)
    return Outcome({key: new} if new is not state else {}, decisions)


# --- timers ---------------------------------------------------------------------------------


def _tick_episode(state: KeyState, group: GroupRule,
                  now: datetime) -> tuple[KeyState, list[Decision]]:
    episode = state.episode
    if episode is None or not episode.active:
        return state, []
    ref = state.key
    auto = group.auto_resolve_after
    if auto is not None and episode.status is not Status.DISPATCHED \
            and now - episode.last_seen_at >= auto:
        done = replace(episode, status=Status.AUTO_RESOLVED, resolved_at=now)
        reason = f"no detection for {int(auto.total_seconds())}s"
        return replace(state, episode=done), [AutoResolve(ref, episode.incident_id, now, reason)]
    unacknowledged = episode.status in {Status.OPEN, Status.REOPENED}
    due = episode.sla_due_at + group.sla_ack * episode.level
    if unacknowledged and episode.level < MAX_LEVEL and now >= due:
        level = episode.level + 1
        severity = min(episode.severity + 1, 4)
        up = replace(episode, level=level, severity=severity)
        reason = f"not acknowledged within {int(group.sla_ack.total_seconds())}s (level {level})"
        return replace(state, episode=up), [
            Escalate(ref, episode.incident_id, level, severity, now, reason)
        ]
    return _tick_step(state, episode, now)


def _tick_step(state: KeyState, episode: Episode,
               now: datetime) -> tuple[KeyState, list[Decision]]:
    """A mandatory procedure step past its deadline goes to the supervisor, as the SLA does:
    the store decides (`Incident.escalate_overdue_step`) and its answer, reconciled, names
    the next deadline."""
    if episode.step is None or episode.step_due_at is None or now < episode.step_due_at:
        return state, []
    level = min(episode.level + 1, MAX_LEVEL)
    waiting = replace(episode, step=None, step_due_at=None)
    return replace(state, episode=waiting), [Escalate(
        state.key, episode.incident_id, level, episode.severity, now,
        f"mandatory step {episode.step} overdue", step=episode.step)]


def _forgettable(state: KeyState, group: GroupRule, now: datetime) -> bool:
    episode = state.episode
    if state.hits:
        return False
    if episode is None:
        return True
    if episode.status is Status.CLOSED:
        return True
    return (episode.resolved_at is not None
            and now - episode.resolved_at > group.reopen_within)


def tick(view: Mapping[str, KeyState], rules: RuleSet, now: datetime,
         keys: Iterable[str] | None = None) -> Outcome:
    """Run the timers at wall time `now`: auto-resolve, SLA escalation, candidate expiry."""
    out = Outcome()
    for key in view if keys is None else keys:
        state = view[key]
        group = rules.groups[state.group]
        new, decisions = _tick_episode(state, group, now)
        if new.hits:
            horizon = now - _retention(rules, state.group)
            kept = tuple(h for h in new.hits if h.observed_at >= horizon)
            if len(kept) != len(new.hits):
                new = replace(new, hits=kept)
        if _forgettable(new, group, now):
            out.changes[key] = None
        elif new is not state:
            out.changes[key] = new
        out.decisions.extend(decisions)
    return out


def reconcile(state: KeyState | None, key: str, group: Kind, snap: IncidentSnapshot | None,
              next_episode: int = 0) -> KeyState:
    """Fold the store's truth about a key's latest incident into the cached state."""
    base = state or KeyState(key, group)
    if snap is None:
        return replace(base, next_episode=max(base.next_episode, next_episode))
    episode = snap.episode
    cached = base.episode
    if cached is not None and cached.incident_id == episode.incident_id \
            and cached.last_seen_at > episode.last_seen_at:
        # evidence still buffered for coalescing is newer than what the store holds: timers
        # must not auto-resolve an incident whose detections are on their way to the store
        episode = replace(episode, last_seen_at=cached.last_seen_at)
    hits = () if episode.active else base.hits
    return replace(base, episode=episode, hits=hits,
                   next_episode=max(base.next_episode, next_episode, episode.number + 1))
