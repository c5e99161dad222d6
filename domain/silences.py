"""Silences and maintenance windows: detections that open no incident for a while, counted.

A supervisor silences a camera, a site, a district or a kind for [starts_at, ends_at) with a
reason (a planned outage, works on a site, a known false-alarm source). While it covers a
detection (by the detection's observed time), the correlator opens, reopens and adds nothing
for it: the detection is counted on the silence instead (`SilencedDetections`, with its id and
kind — never dropped, like `BelowRuleTally`). A silence expires on its own at `ends_at` (no
event: time passed) or is ended early (`Ended`). A silence by camera also silences that
camera's health alerts (`camera_offline`, `domain.camera_watch.PlannedSilence`).

Every silence is listed on the `SilenceBook` (one aggregate, one event per silence created), so
a correlator or camera watcher learns every silence from one load and then loads the ones it
does not know; silences are few (hundreds), detections many.

Events (version 1): Silence.Created, Silence.Ended, Silence.SilencedDetections;
SilenceBook.Started, SilenceBook.Listed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError
from domain.kinds import Kind

__all__ = ["MAX_SILENCE", "SILENCE_BOOK_ID", "InvalidSilence", "Silence", "SilenceAlreadyEnded",
           "SilenceBook", "SilenceError", "SilenceNotFound", "SilenceScope", "SilenceWindow",
           "covering", "silence_id_for"]

_NAMESPACE = uuid5(NAMESPACE_URL, "https://kuzet.dev/ns/silence")
SILENCE_BOOK_ID = uuid5(_NAMESPACE, "silence-book")
MAX_SILENCE = timedelta(days=31)
"""The longest silence: a longer outage is a decommissioning, not a maintenance window."""
MAX_REASON = 2000


class SilenceError(DomainError):
    """Base of errors about silences; carries the silence id where there is one."""

    def __init__(self, silence_id: object, message: str) -> None:
        self.silence_id = str(silence_id)
        super().__init__(message)


class InvalidSilence(SilenceError):
    """Raised when a silence's scope, value, window or reason is out of range (the message
    names the offending field and value)."""


class SilenceNotFound(SilenceError):
    """Raised when no silence has the given id."""

    def __init__(self, silence_id: object) -> None:
        super().__init__(silence_id, f"silence {silence_id} not found")


class SilenceAlreadyEnded(SilenceError):
    """Raised when ending a silence that was ended or has expired."""


class SilenceScope(str, Enum):
    """What a silence covers: one camera (any source), one site, one district, one kind."""

    CAMERA = "camera"
    SITE = "site"
    DISTRICT = "district"
    KIND = "kind"


def silence_id_for(scope: str, value: str, starts_at: datetime, author: str) -> UUID:
    """Deterministic: the same request (a retried mutation) names the same silence."""
    return uuid5(_NAMESPACE, f"{scope}|{value}|{starts_at.isoformat()}|{author}")


@dataclass(frozen=True, slots=True)
class SilenceWindow:
    """What matching needs of a silence (the correlator caches these)."""

    silence_id: UUID
    scope: SilenceScope
    value: str
    starts_at: datetime
    ends_at: datetime
    """When it stops covering: its end, or the instant it was ended early."""

    def covers(self, *, source_id: str, site_id: str | None, district: str | None, kind: str,
               at: datetime) -> bool:
        if not self.starts_at <= at < self.ends_at:
            return False
        return {SilenceScope.CAMERA: source_id, SilenceScope.SITE: site_id,
                SilenceScope.DISTRICT: district, SilenceScope.KIND: kind}[self.scope] \
            == self.value


def covering(windows: Sequence[SilenceWindow], *, source_id: str, site_id: str | None,
             kind: str, at: datetime,
             district_of: Callable[[str | None], str | None]) -> SilenceWindow | None:
    """The first (by start, then id) silence covering a detection at `at`, if any."""
    district = district_of(site_id)
    found = [w for w in windows if w.covers(source_id=source_id, site_id=site_id,
                                            district=district, kind=kind, at=at)]
    return min(found, key=lambda w: (w.starts_at, str(w.silence_id))) if found else None


class Silence(Aggregate):
    """One silence or maintenance window, with the detections it held back."""

    @staticmethod
    def create_id(scope: str, value: str, starts_at: datetime, author: str) -> UUID:
        return silence_id_for(scope, value, starts_at, author)

    @classmethod
    def start(cls, *, scope: str, value: str, starts_at: datetime, ends_at: datetime,
              author: str, reason: str, at: datetime) -> Silence:
        """A new silence, checked: a known scope, a value (a known kind for `kind`), a window
        of at most `MAX_SILENCE` that ends after `at`, an author and a 1..2000 reason."""
        _check(scope, value, starts_at, ends_at, author, reason, at)
        return cls(scope=scope, value=value, starts_at=starts_at, ends_at=ends_at,
                   author=author, reason=reason, timestamp=at)

    @event("Created")
    def __init__(self, *, scope: str, value: str, starts_at: datetime, ends_at: datetime,
                 author: str, reason: str, timestamp: datetime) -> None:
        """Created: `author` silenced `scope`=`value` for [starts_at, ends_at) (`reason`)."""
        self.scope = SilenceScope(scope)
        self.value = value
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.author = author
        self.reason = reason
        self.created_at = timestamp
        self.ended_at: datetime | None = None
        self.ended_by: str | None = None
        self.count = 0
        self.by_kind: dict[str, int] = {}
        self.detection_ids: set[str] = set()

    @property
    def until(self) -> datetime:
        """When it stops covering: `ends_at`, or when it was ended early."""
        return min(self.ends_at, self.ended_at) if self.ended_at else self.ends_at

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.until

    def state(self, at: datetime) -> str:
        """`pending`, `active`, `expired` (its end passed) or `ended` (ended early)."""
        if self.ended_at is not None and self.ended_at < self.ends_at:
            return "ended" if at >= self.ended_at else "active"
        if at >= self.ends_at:
            return "expired"
        return "active" if at >= self.starts_at else "pending"

    def window(self) -> SilenceWindow:
        return SilenceWindow(self.id, self.scope, self.value, self.starts_at, self.until)

    def end(self, *, actor: str, reason: str, at: datetime) -> None:
        """End it early (a pending silence ends before it starts: it never covers)."""
        if at >= self.until:
            raise SilenceAlreadyEnded(self.id, f"silence {self.id} already ended at "
                                               f"{self.until.isoformat()}")
        if len(reason) > MAX_REASON:
            raise InvalidSilence(self.id, f"reason: at most {MAX_REASON} characters")
        self._ended(actor=actor, reason=reason, timestamp=at)

    @event("Ended")
    def _ended(self, actor: str, reason: str, timestamp: datetime) -> None:
        """Ended: `actor` ended the silence early at `timestamp` (`reason`)."""
        self.ended_at = timestamp
        self.ended_by = actor

    def count_detections(self, *, detections: Sequence[tuple[str, str]], at: datetime) -> bool:
        """Fold (detection id, kind) in, once per id; False if none was new."""
        fresh = {i: k for i, k in detections if i not in self.detection_ids}
        if not fresh:
            return False
        kinds: dict[str, int] = {}
        for kind in fresh.values():
            kinds[kind] = kinds.get(kind, 0) + 1
        self._silenced(count=len(fresh), by_kind=dict(sorted(kinds.items())),
                       detection_ids=sorted(fresh), timestamp=at)
        return True

    @event("SilencedDetections")
    def _silenced(self, count: int, by_kind: dict[str, int], detection_ids: list[str],
                  timestamp: datetime) -> None:
        """SilencedDetections: `count` more detections (ids listed, counts `by_kind`) were
        covered by this silence and opened no incident."""
        self.count += count
        for kind, n in by_kind.items():
            self.by_kind[kind] = self.by_kind.get(kind, 0) + n
        self.detection_ids.update(detection_ids)


class SilenceBook(Aggregate):
    """The ids of every silence (one aggregate: silences are few). Events: Started, Listed."""

    @staticmethod
    def create_id() -> UUID:
        return SILENCE_BOOK_ID

    @event("Started")
    def __init__(self, *, timestamp: datetime) -> None:
        self.silences: dict[str, datetime] = {}
        """Silence id → its end (as created: an early end is on the silence)."""

    def add(self, *, silence: Silence, at: datetime) -> bool:
        if str(silence.id) in self.silences:
            return False
        self._listed(silence_id=str(silence.id), ends_at=silence.ends_at, timestamp=at)
        return True

    @event("Listed")
    def _listed(self, silence_id: str, ends_at: datetime, timestamp: datetime) -> None:
        """Listed: silence `silence_id` (ending at `ends_at` at the latest) exists."""
        self.silences[silence_id] = ends_at

    def current(self, at: datetime) -> list[UUID]:
        """The silences that may still cover something at `at` or later."""
        return [UUID(i) for i, end in self.silences.items() if end > at]


def _check(scope: str, value: str, starts_at: datetime, ends_at: datetime, author: str,
           reason: str, at: datetime) -> None:
    problems = []
    if scope not in {s.value for s in SilenceScope}:
        problems.append(f"scope={scope!r}: one of {', '.join(s.value for s in SilenceScope)}")
    if not value or len(value) > 200:
        problems.append(f"value={value[:40]!r}: 1..200 characters")
    elif scope == SilenceScope.KIND.value and value not in {k.value for k in Kind}:
        problems.append(f"value={value!r}: not a known kind")
    if ends_at <= starts_at or ends_at - starts_at > MAX_SILENCE:
        problems.append(f"ends_at={ends_at.isoformat()}: after starts_at, at most "
                        f"{MAX_SILENCE.days} days after it")
    if ends_at <= at:
        problems.append(f"ends_at={ends_at.isoformat()}: already past")
    if not author:
        problems.append("author: required")
    if not reason.strip() or len(reason) > MAX_REASON:
        problems.append(f"reason: 1..{MAX_REASON} characters")
    if problems:
        raise InvalidSilence(silence_id_for(scope, value, starts_at, author),
                             "invalid silence: " + "; ".join(problems))

