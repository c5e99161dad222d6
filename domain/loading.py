"""The store every use case shares: loading aggregates, translating "not found" into ours."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

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

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        """Drop aggregates from the repository's cache (ones changed but not saved)."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id in aggregate_ids:
                with contextlib.suppress(KeyError):  # not cached (or forgotten already)
                    cache.get(aggregate_id, evict=True)
