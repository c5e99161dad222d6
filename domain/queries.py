"""Use case: reading incidents back (every id, one history, one incident at a past instant)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import IncidentNotFound
from domain.incident import Incident
from domain.loading import IncidentStore

__all__ = ["OPENED_TOPIC", "IncidentQueries"]

OPENED_TOPIC = "domain.incident:Incident.Opened"


class IncidentQueries(IncidentStore):
    def incident_ids(self, batch: int = 1000) -> Iterator[UUID]:
        """Every incident id, in the order the incidents were opened."""
        start = 1
        while True:
            page = self.recorder.select_notifications(start, batch, topics=[OPENED_TOPIC])
            yield from (n.originator_id for n in page)  # type: ignore[misc]
            if len(page) < batch:
                return
            start = page[-1].id + 1

    def incidents(self) -> Iterator[Incident]:
        for incident_id in self.incident_ids():
            yield self.incident(incident_id)

    def history(self, incident_id: UUID) -> list[Any]:
        """Every stored event of the incident, oldest first."""
        events = list(self.events.get(incident_id))
        if not events:
            raise IncidentNotFound(incident_id)
        return events

    def incident_at(self, incident_id: UUID, as_of: datetime) -> Incident | None:
        """The incident's state at instant `as_of` (None if it did not exist yet)."""
        events = [e for e in self.history(incident_id) if e.timestamp <= as_of]
        if not events:
            return None
        found: Incident = self.repository.get(incident_id, version=events[-1].originator_version)
        return found
