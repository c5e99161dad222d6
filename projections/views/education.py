"""The education view: canteen attendance per school, meal and day, and safety incidents at schools.

Attendance comes from `CanteenTally` events (head counts only); a count under `k` is stored as
None with `suppressed: true`, so small groups of children cannot be singled out. Safety
incidents are fires, fights, weapons and crowds at sites the directory marks as schools.
No personal data: no subject, no correlation key, no snapshots.
"""

from __future__ import annotations

from domain.log import LogEvent
from domain.routing import SiteDirectory
from projections.views.base import Doc
from projections.views.incidents import INCIDENT, lifecycle, opened_fields

__all__ = ["SAFETY_KINDS", "EducationView"]

SAFETY_KINDS = frozenset({"fire", "fight", "weapon", "crowd"})
TALLY = "CanteenTally"


class EducationView:
    name = "education"

    def __init__(self, sites: SiteDirectory, k: int) -> None:
        self.sites = sites
        self.k = k

    def key(self, event: LogEvent) -> str | None:
        if event.aggregate in {INCIDENT, TALLY}:
            return event.originator_id
        return None

    def apply(self, doc: Doc | None, event: LogEvent) -> Doc | None:
        if event.aggregate == TALLY:
            return self._tally(doc, event)
        if event.name == "Opened":
            return self._opened(event)
        return None if doc is None else lifecycle(doc, event)

    def _tally(self, doc: Doc | None, event: LogEvent) -> Doc | None:
        d = event.data
        if event.name == "Started":
            site = self.sites.get(d["site_id"])
            return {"type": "canteen", "site_id": d["site_id"],
                    "school": site.school if site else None,
                    "district": site.district if site else None, "day": d["day"],
                    "meal": d["meal"], "attendance": None, "suppressed": True, "samples": 0}
        if doc is None or event.name != "Counted":
            return doc
        peak = int(d["peak"])
        return {**doc, "attendance": peak if peak >= self.k else None,
                "suppressed": peak < self.k, "samples": doc["samples"] + int(d["samples"])}

    def _opened(self, event: LogEvent) -> Doc | None:
        d = event.data
        site = self.sites.get(d["site_id"])
        if d["kind"] not in SAFETY_KINDS or site is None or not site.is_school:
            return None
        return {**opened_fields(event), "type": "safety", "school": site.school,
                "district": site.district}
