"""The ZhKKh view: waste and road work orders per district and contractor.

One row per incident of kind garbage_overflow, illegal_dump, waste_pickup (a missed pickup)
or road_defect, with district and contractor from the site directory, time to clear and SLA
compliance. No personal data at all: no subject, no correlation key, no snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.log import LogEvent
from domain.routing import SiteDirectory
from projections.views.base import Doc, seconds_between
from projections.views.incidents import INCIDENT, lifecycle, opened_fields

__all__ = ["ZHKKH_KINDS", "ZhkkhView", "summary"]

ZHKKH_KINDS = frozenset({"garbage_overflow", "illegal_dump", "waste_pickup", "road_defect"})


class ZhkkhView:
    name = "zhkkh"

    def __init__(self, sites: SiteDirectory) -> None:
        self.sites = sites

    def key(self, event: LogEvent) -> str | None:
        return event.originator_id if event.aggregate == INCIDENT else None

    def apply(self, doc: Doc | None, event: LogEvent) -> Doc | None:
        if event.name == "Opened":
            return self._opened(event)
        if doc is None:
            return None
        new = lifecycle(doc, event)
        if event.name == "OriginAmended" and event.data["site_id"] is not None:
            site = self.sites.get(event.data["site_id"])
            new["district"] = site.district if site else None
            new["contractor"] = site.contractor if site else None
            new["location"] = event.data["location"] or doc["location"]
        first_response = new["acknowledged_at"] or new["cleared_at"]
        new["sla_met"] = None if first_response is None else first_response <= new["sla_due_at"]
        new["time_to_clear_s"] = (seconds_between(new["opened_at"], new["cleared_at"])
                                  if new["cleared_at"] else None)
        return new

    def _opened(self, event: LogEvent) -> Doc | None:
        d = event.data
        if d["kind"] not in ZHKKH_KINDS:
            return None
        site = self.sites.get(d["site_id"])
        return {**opened_fields(event),
                "district": site.district if site else None,
                "contractor": site.contractor if site else None,
                "location": d["location"], "missed_pickup": d["kind"] == "waste_pickup",
                "sla_met": None, "time_to_clear_s": None}


def summary(rows: Iterable[Doc]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (district, contractor): orders, open, cleared, mean time to clear, SLA compliance."""
    groups: dict[tuple[str, str], list[Doc]] = {}
    for r in rows:
        groups.setdefault((r["district"] or "-", r["contractor"] or "-"), []).append(r)
    out = {}
    for key, group in sorted(groups.items()):
        cleared = [r["time_to_clear_s"] for r in group if r["time_to_clear_s"] is not None]
        decided = [r["sla_met"] for r in group if r["sla_met"] is not None]
        out[key] = {
            "orders": len(group), "cleared": len(cleared), "open": len(group) - len(cleared),
            "mean_time_to_clear_s": sum(cleared) / len(cleared) if cleared else None,
            "sla_compliance": sum(decided) / len(decided) if decided else None,
        }
    return out
