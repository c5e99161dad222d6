"""The cameras view: each camera's state as the health topic tells it, and counts by district.

Not fed from the incident log: `kuzet cameras watch` folds `kuzet.health.v1`
(`domain.camera_watch.CameraWatch`) and writes one document per camera here
(`write_cameras`, every few seconds, only the rows that changed) into the read-model store's
`cameras` view; its position counts those writes. A document holds facts only (last record,
last frame, last detection, since when frames stopped, the offline reason, the threshold);
the state is judged when read (`camera_state`), so a camera whose watcher died reads
`silent` once its threshold passes instead of staying `online` for ever:

- `online`: a frame within `silent_after_s`;
- `offline`: no frame for `silent_after_s` and the detector said `source_offline`;
- `silent`: no frame for `silent_after_s` and nothing said why (heartbeats stopped, or
  heartbeats with zero frames).

No personal data: camera ids, sites and districts only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from domain.camera_watch import CameraWatch, SourceHealth
from projections.errors import PositionConflictError
from projections.store import ViewStore
from projections.views.base import Doc

__all__ = ["CAMERAS", "STATES", "camera_doc", "camera_state", "district_counts",
           "write_cameras"]

CAMERAS = "cameras"
STATES = ("online", "offline", "silent")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def camera_doc(seen: SourceHealth, silent_after_s: float, district: str | None) -> Doc:
    """The stored document of one camera (facts; the state is judged on reading)."""
    return {"source_id": seen.source_id, "source_kind": seen.source_kind,
            "site_id": seen.site_id, "district": district,
            "last_record_at": _iso(seen.last_record_at), "last_frame_at": _iso(seen.last_frame_at),
            "last_detection_at": _iso(seen.last_detection_at),
            "silent_since": _iso(seen.silent_since), "offline_reason": seen.offline_reason,
            "silent_after_s": silent_after_s}


def camera_state(doc: Mapping[str, Any], now: datetime) -> str:
    """`online`, `offline` or `silent` at `now` (see the module docstring)."""
    silent_for = (now - datetime.fromisoformat(doc["silent_since"])).total_seconds()
    if silent_for < float(doc["silent_after_s"]):
        return "online"
    return "offline" if doc.get("offline_reason") else "silent"


def district_counts(docs: Iterable[Mapping[str, Any]], now: datetime
                    ) -> dict[str, dict[str, int]]:
    """Cameras per district (`-`: unknown) and state, districts in name order."""
    out: dict[str, dict[str, int]] = {}
    for doc in docs:
        row = out.setdefault(doc.get("district") or "-", dict.fromkeys(STATES, 0))
        row[camera_state(doc, now)] += 1
    return dict(sorted(out.items()))


async def write_cameras(store: ViewStore, watch: CameraWatch,
                        district_of: Callable[[str | None], str | None],
                        written: dict[str, str]) -> int:
    """Upsert the documents of the cameras whose facts changed since `written` (the texts this
    writer wrote last; updated in place); returns how many. A concurrent writer (another
    watcher's partitions) moving the position first makes this write wait for the next call."""
    silent_after_s = watch.silent_after.total_seconds()
    fresh = {}
    for source_id, seen in watch.sources.items():
        text = json.dumps(camera_doc(seen, silent_after_s, district_of(seen.site_id)),
                          sort_keys=True)
        if written.get(source_id) != text:
            fresh[source_id] = text
    if not fresh:
        return 0
    position = await store.position(CAMERAS)
    try:
        await store.commit(CAMERAS, fresh, (), position, position + 1)
    except PositionConflictError:
        return 0
    written.update(fresh)
    return len(fresh)
