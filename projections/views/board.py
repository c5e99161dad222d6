"""The operator board: every incident not yet closed, with what an operator needs to act.

Rows hold status, severity, level, opened_at (age is computed at read time), SLA due time,
whether the acknowledgement was late, sources, evidence count, assignee and the agencies the
incident is routed to (the API scopes and filters board rows by them), its location (the
console's map), and merges (`merged_from`, `merged_into` on a `MERGED` row) and splits
(`split_into`). No personal data: no subject, no correlation key, no snapshots. `open_rows`
and `counts` are the read side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from domain.kinds import ACTIVE_STATUSES
from domain.log import LogEvent
from projections.views.base import Doc
from projections.views.incidents import INCIDENT, lifecycle, opened_fields

__all__ = ["OperatorBoard", "counts", "open_rows", "sla_breached"]


class OperatorBoard:
    name = "board"

    def key(self, event: LogEvent) -> str | None:
        return event.originator_id if event.aggregate == INCIDENT else None

    def apply(self, doc: Doc | None, event: LogEvent) -> Doc | None:
        d = event.data
        if event.name == "Opened":
            return {**opened_fields(event), "sources": list(dict.fromkeys(d["source_ids"])),
                    "evidence_count": len(set(d["detection_ids"])), "assignee": None,
                    "agencies": list(d["agencies"]), "location": d.get("location")}
        if doc is None or event.name == "Closed":
            return None
        new = lifecycle(doc, event)
        if event.name in {"EvidenceAdded", "LateEvidenceAdded"}:
            new["sources"] = [*doc["sources"], *(s for s in d["source_ids"]
                                                 if s not in doc["sources"])]
            new["evidence_count"] = doc["evidence_count"] + len(d["detection_ids"])
            if event.name == "LateEvidenceAdded":
                new["late_evidence"] = doc.get("late_evidence", 0) + len(d["detection_ids"])
        elif event.name == "OriginAmended":  # the earliest sighting's source comes first
            new["sources"] = [d["source_id"], *(s for s in doc["sources"] if s != d["source_id"])]
            new["location"] = d["location"] or doc.get("location")
        elif event.name in {"Merged", "EvidenceSplitOff"}:
            _merge_or_split(new, doc, event)
        elif event.name == "Reopened":
            new["evidence_count"] = doc["evidence_count"] + len(d["detection_ids"])
        elif event.name == "Assigned":
            new["assignee"] = d["assignee"]
        elif event.name == "RoutedTo" and "agencies" in doc:  # older rows: rebuild the board
            new["agencies"] = [*doc["agencies"], *d["agencies"]]
        return new


def _merge_or_split(new: Doc, doc: Doc, event: LogEvent) -> None:
    """`Merged`: the target takes the merged incident's evidence, sources and routing;
    `EvidenceSplitOff`: the moved detections leave (the new incident has its own row)."""
    d = event.data
    if event.name == "EvidenceSplitOff":
        new["evidence_count"] = doc["evidence_count"] - len(d["detection_ids"])
        new["split_into"] = [*doc.get("split_into", []), d["into_id"]]
        return
    new["evidence_count"] = doc["evidence_count"] + len(d["detection_ids"])
    new["sources"] = [*doc["sources"], *(s for s in d["source_ids"] if s not in doc["sources"])]
    new["agencies"] = [*doc.get("agencies", []), *d["agencies"]]
    new["merged_from"] = [*doc.get("merged_from", []), d["merged_id"]]


def sla_breached(row: Doc, now: datetime) -> bool:
    """Acknowledged after the SLA, or still unacknowledged past it."""
    due = datetime.fromisoformat(row["sla_due_at"])
    acked = row.get("acknowledged_at")
    return datetime.fromisoformat(acked) > due if acked else now > due


def open_rows(rows: Iterable[Doc]) -> list[Doc]:
    """Incidents still being handled (OPEN, REOPENED, ACKNOWLEDGED, DISPATCHED), oldest first."""
    active = {s.value for s in ACTIVE_STATUSES}
    return sorted((r for r in rows if r["status"] in active), key=lambda r: r["opened_at"])


def counts(rows: Iterable[Doc]) -> dict[str, dict[str, int]]:
    """Rows counted by kind and by status."""
    listed = list(rows)
    return {"by_kind": dict(Counter(r["kind"] for r in listed)),
            "by_status": dict(Counter(r["status"] for r in listed))}
