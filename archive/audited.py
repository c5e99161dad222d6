"""A search that leaves its trace: the `DetectionSearch.Recorded` event and access-log entries.

Every page answered is recorded (who, when, criteria, hits) in the event store; each hit that
shows a plate, subject id or snapshot reference in the clear adds an entry to the personal-data
access log (`domain.access`), naming the incident the detection belongs to (or
`detection:<id>` when none) and the pseudonyms of the subjects revealed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from archive.reader import Page, Searcher
from archive.search import Hit, SearchFilter
from domain.access import MAX_BATCH, PersonalDataAccessBatch, access_entry
from domain.erasure import DataClass, identity_of
from domain.privacy import SHREDDED, mask
from domain.searches import DetectionSearch

__all__ = ["AuditedSearch", "Who"]


@dataclass(frozen=True)
class Who:
    principal: str
    role: str
    agency: str
    token: str = ""


class AuditedSearch:
    """`Searcher` plus the records; `app` is the incident application (it saves any aggregate)."""

    def __init__(self, searcher: Searcher, app: Any) -> None:
        self.searcher, self.app = searcher, app

    def search(self, who: Who, f: SearchFilter, *, first: int = 50, after: str | None = None,
               via: str) -> Page:
        page = self.searcher.search(f, first, after)
        now = datetime.now(UTC)
        self.app.save(DetectionSearch.record(
            principal=who.principal, role=who.role, agency=who.agency, token=who.token,
            via=via, criteria=f.criteria(), hits=len(page.hits), at=now))
        entries = [e for h in page.hits if (e := _entry(who, h, now, via)) is not None]
        for i in range(0, len(entries), MAX_BATCH):
            self.app.save(PersonalDataAccessBatch.record(entries[i:i + MAX_BATCH], now))
        return page


def _entry(who: Who, hit: Hit, at: datetime, via: str) -> dict[str, Any] | None:
    fields: list[str] = []
    subjects: list[str] = []
    for name, value, data_class in (("plate", hit.plate, DataClass.PLATE),
                                    ("subject_id", hit.subject_id, DataClass.FACE)):
        if value not in (None, SHREDDED):
            fields.append(name)
            subjects.append(mask(str(identity_of(data_class, str(value)))))
    if hit.snapshot_uri not in (None, SHREDDED):
        fields.append("snapshot")
    if not fields:
        return None
    return access_entry(at=at, principal=who.principal, role=who.role, agency=who.agency,
                        token=who.token, incident=hit.incident_id or f"detection:"
                        f"{hit.detection_id}", fields=fields, subjects=_sorted(subjects),
                        via=f"search/{via}")


def _sorted(values: Sequence[str]) -> list[str]:
    return sorted(set(values))
