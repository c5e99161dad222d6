"""The store every use case shares: loading aggregates, translating "not found" into ours."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from domain.errors import IncidentNotFound
from domain.incident import Incident

__all__ = ["IncidentStore"]

_A = TypeVar("_A")


class IncidentStore(Application[UUID]):
    """Base of the application's use-case classes (domain/application.py composes them)."""

    def _get(self, aggregate_id: UUID, cls: type[_A]) -> _A | None:
        try:
            found: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    def incident(self, incident_id: UUID) -> Incident:
        """The incident, or `IncidentNotFound`."""
        found = self._get(incident_id, Incident)
        if found is None:
            raise IncidentNotFound(incident_id) from None
        return found
