"""The police view: wanted-subject and plate matches, weapons, fights and crowds.

The only view that carries personal data: the matched subject id or plate, the cameras where
and times when it was seen (per source: first and last seen), and snapshot references.
`PersonalDataErased` redacts the erased data classes to `[shredded]`, exactly as a rebuild
reads them from the store once their keys are gone (`domain.erasure`).

Snapshots: the events keep every image an incident has (`domain.incident`); this view shows
the refs of the first `VIEW_SNAPSHOTS` of them (the images that opened the incident come
first) and counts them all in `snapshot_count`, so one incident with thousands of images keeps
its row small. The images themselves are served by digest (`api.evidence`).
"""

from __future__ import annotations

from typing import Any

from domain.erasure import redact_snapshots, redact_subject
from domain.log import LogEvent
from projections.views.base import Doc
from projections.views.incidents import INCIDENT, lifecycle, opened_fields

__all__ = ["POLICE_KINDS", "VIEW_SNAPSHOTS", "PoliceView"]

POLICE_KINDS = frozenset({"face_match", "plate_match", "weapon", "fight", "crowd"})
VIEW_SNAPSHOTS = 20
"""Snapshot refs a police row shows (the events keep them all; `snapshot_count` counts)."""


def _with_snapshots(doc: Doc, snapshots: list[Any] | None) -> None:
    """Append `snapshots` (v2 `{ref, sha256}`; a bare ref as v1 stored it) to `doc`, bounded."""
    fresh = [s.get("ref") if isinstance(s, dict) else s for s in snapshots or ()]
    doc["snapshots"] = [*doc["snapshots"], *fresh][:VIEW_SNAPSHOTS]
    doc["snapshot_count"] = doc.get("snapshot_count", len(doc["snapshots"])) + len(fresh)


def _seen(sightings: dict[str, dict[str, str]], sources: list[str], first: str,
          last: str) -> dict[str, dict[str, str]]:
    out = {k: dict(v) for k, v in sightings.items()}
    for source in sources:
        was = out.get(source)
        out[source] = {"first_seen_at": min(first, was["first_seen_at"]) if was else first,
                       "last_seen_at": max(last, was["last_seen_at"]) if was else last}
    return out


class PoliceView:
    name = "police"

    def key(self, event: LogEvent) -> str | None:
        return event.originator_id if event.aggregate == INCIDENT else None

    def apply(self, doc: Doc | None, event: LogEvent) -> Doc | None:
        d = event.data
        if event.name == "Opened":
            if d["kind"] not in POLICE_KINDS:
                return None
            row = {**opened_fields(event), "subject": d["subject"],
                   "sightings": _seen({}, d["source_ids"], d["first_seen_at"],
                                      d["last_seen_at"]),
                   "snapshots": [], "snapshot_count": 0}
            _with_snapshots(row, d.get("snapshots"))
            return row
        if doc is None:
            return None
        new = lifecycle(doc, event)
        if event.name in {"EvidenceAdded", "LateEvidenceAdded"}:
            new["sightings"] = _seen(doc["sightings"], d["source_ids"] or [],
                                     d["first_seen_at"], d["last_seen_at"])
            _with_snapshots(new, d["snapshots"])
        elif event.name == "Reopened":
            _with_snapshots(new, d.get("snapshots"))
        elif event.name == "Merged":  # the merged incident's sightings and images join
            new["sightings"] = _seen(doc["sightings"], d["source_ids"], d["first_seen_at"],
                                     d["last_seen_at"])
            _with_snapshots(new, d["snapshots"])
        elif event.name == "PersonalDataErased":
            new["subject"] = redact_subject(doc["subject"], d["data_classes"])
            new["snapshots"] = redact_snapshots(doc["snapshots"], d["data_classes"])
        return new
