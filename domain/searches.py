"""Searches of the detection archive, each recorded as a fact: who asked what, how much came.

`DetectionSearch.Recorded` names who searched (principal, role, agency, token id), when,
through what (`via`: graphql, cli), the criteria (as `archive.search.SearchFilter.criteria`
gives them: a plate only as "exact" or "fuzzy", never in the clear) and the number of hits on
the page answered. Stored in the hash-chained event store like every other event.

Event history: DetectionSearch.Recorded (version 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

__all__ = ["SEARCH_TOPIC", "DetectionSearch", "InvalidSearchRecord"]

SEARCH_TOPIC = "domain.searches:DetectionSearch.Recorded"


class InvalidSearchRecord(DomainError):
    """Raised when a search record lacks who, a UTC time, or has a negative hit count."""


class DetectionSearch(Aggregate):
    """One search of the archive (a new aggregate per search)."""

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @event("Recorded")
    def __init__(self, principal: str, role: str, agency: str, token: str, via: str,
                 criteria: dict[str, Any], hits: int, at: datetime) -> None:
        self.principal, self.role, self.agency, self.token = principal, role, agency, token
        self.via, self.criteria, self.hits, self.at = via, criteria, hits, at

    @classmethod
    def record(cls, *, principal: str, role: str, agency: str, token: str, via: str,
               criteria: Mapping[str, Any], hits: int, at: datetime) -> DetectionSearch:
        if not principal or at.tzinfo is None or hits < 0:
            raise InvalidSearchRecord("a search record needs who, a time with a UTC offset "
                                      "and a hit count >= 0")
        return cls(principal=principal, role=role, agency=agency, token=token, via=via,
                   criteria=dict(criteria), hits=hits, at=at)
