"""The store every use case shares: loading aggregates, translating "not found" into ours."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import Recording

from domain.errors import IncidentNotFound
from domain.incident import Incident

__all__ = ["IncidentStore"]

_A = TypeVar("_A")


class IncidentStore(Application[UUID]):
    """Base of the application's use-case classes (domain/application.py composes them)."""

    def _get(self, aggregate_id: UUID, cls: type[_A], *, copy: bool = True) -> _A | None:
        """`copy=False` hands out the cached aggregate itself (no deepcopy: ~1 ms for an
        incident with much evidence); the caller must `forget` it if a change is not saved."""
        try:
            found: Any = self.repository.get(aggregate_id, deepcopy_from_cache=copy)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    def incident(self, incident_id: UUID, *, copy: bool = True) -> Incident:
        """The incident, or `IncidentNotFound` (`copy`: as `_get`)."""
        found = self._get(incident_id, Incident, copy=copy)
        if found is None:
            raise IncidentNotFound(incident_id) from None
        return found

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Record, then keep the aggregate cache (the correlator's) current with the
        incidents just saved, even a deepcopy handed out by `_get`: what this process wrote it
        need not read back (`held_incident`). eventsourcing does this itself only without
        fast-forward, which the other reads still use."""
        recordings = super()._record(processing_event)
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                if isinstance(aggregate, Incident):
                    cache.put(aggregate_id, aggregate)
        return recordings

    def held_incident(self, incident_id: UUID) -> Incident:
        """The incident as this process's aggregate cache holds it — the cached object
        itself, without the fast-forward read of events stored since — or loaded (and
        cached) if it is not held.

        Only for a writer that owns the incident's key (the correlator: its partition) and
        saves what it changes: a copy that missed another writer's events (an operator's
        command) cannot be saved over them — the store refuses the event versions
        (`IntegrityError`), and the caller reloads. The caller must `forget` it if a change
        is not saved."""
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                found = cache.get(incident_id)
                if isinstance(found, Incident):
                    return found
        return self.incident(incident_id, copy=False)

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        """Drop aggregates from the repository's cache (ones changed but not saved)."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id in aggregate_ids:
                with contextlib.suppress(KeyError):  # not cached (or forgotten already)
                    cache.get(aggregate_id, evict=True)
