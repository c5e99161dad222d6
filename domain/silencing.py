"""Use case: supervisors silence cameras, sites, districts or kinds; the correlator counts
what the silences held back (`domain.silences`).

Creating a silence saves it and its line on the `SilenceBook` in one transaction; a retried
request names the same silence (deterministic id) and changes nothing. Counting folds
detections into the silence on a fresh load, retried when a concurrent writer won, like the
observations (`domain.application`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.loading import IncidentStore
from domain.observations import ObservationConflict
from domain.silences import (
    SILENCE_BOOK_ID,
    Silence,
    SilenceBook,
    SilenceNotFound,
    SilenceWindow,
    silence_id_for,
)

__all__ = ["SilenceCommands"]

ATTEMPTS = 5


class SilenceCommands(IncidentStore):
    """Create, end, list silences; count the detections they cover."""

    def create_silence(self, *, scope: str, value: str, starts_at: datetime,
                       ends_at: datetime, by: str, reason: str, at: datetime) -> Silence:
        """A new silence (or the same one again, when the same request is retried)."""
        existing = self._get(silence_id_for(scope, value, starts_at, by), Silence)
        if existing is not None:
            return existing
        silence = Silence.start(scope=scope, value=value, starts_at=starts_at,
                                ends_at=ends_at, author=by, reason=reason, at=at)
        for _ in range(ATTEMPTS):
            book = self._get(SILENCE_BOOK_ID, SilenceBook) or SilenceBook(timestamp=at)
            book.add(silence=silence, at=at)
            try:
                self.save(book, silence)
            except IntegrityError:
                found = self._get(silence.id, Silence)
                if found is not None:
                    return found
                continue
            return silence
        raise ObservationConflict(SILENCE_BOOK_ID, ATTEMPTS)

    def silence(self, silence_id: UUID) -> Silence:
        found = self._get(silence_id, Silence)
        if found is None:
            raise SilenceNotFound(silence_id)
        return found

    def end_silence(self, silence_id: UUID, *, by: str, reason: str, at: datetime) -> Silence:
        silence = self.silence(silence_id)
        silence.end(actor=by, reason=reason, at=at)
        self.save(silence)
        return silence

    def silences(self, at: datetime, *, past: bool = False) -> list[Silence]:
        """Silences not yet over at `at` (with `past`: every silence), earliest start first."""
        book = self._get(SILENCE_BOOK_ID, SilenceBook)
        if book is None:
            return []
        ids = [UUID(i) for i in book.silences] if past else book.current(at)
        found = [s for s in (self._get(i, Silence) for i in ids) if s is not None]
        return sorted((s for s in found if past or s.until > at),
                      key=lambda s: (s.starts_at, str(s.id)))

    def silence_windows(self, at: datetime) -> list[SilenceWindow]:
        """What the correlator matches detections against (silences not over at `at`)."""
        return [s.window() for s in self.silences(at)]

    def record_silenced(self, silence_id: UUID, detections: Sequence[tuple[str, str]],
                        at: datetime) -> None:
        """Count (detection id, kind) on the silence, once per id, never lost: a concurrent
        writer's win means load and fold again, `ObservationConflict` after a bound."""
        for _ in range(ATTEMPTS):
            silence = self.silence(silence_id)
            if not silence.count_detections(detections=detections, at=at):
                return
            try:
                self.save(silence)
            except IntegrityError:
                continue
            return
        raise ObservationConflict(silence_id, ATTEMPTS)
