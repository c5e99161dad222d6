"""The demo's merge and silence workflows (issue 14 items 4-5), one printed line each.

After the scenario's incidents are in: the wanted plate turns out to be the wanted person's
car, so a supervisor merges the plate incident into the face-match incident, and a later
sighting of the plate lands in the face-match incident (the merged key's track points there).
Then a camera is silenced for maintenance and three fire detections from it are held back:
counted on the silence, no incident. Both go through the same typed commands the API and CLI
carry out, and the detections through the running workers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from rich.console import Console

    from domain.application import IncidentApp
    from kuzet.settings import Settings

__all__ = ["exercise_cases"]

PLATE_KEY = "plate_match:plate=A123BC02"
WANTED_KEY = "face_match:subject=W-1042"
QUIET_CAMERA = "cam-31"
_NS = uuid.UUID("0d6f3c2e-5b7a-4e51-9c3d-2f1a8e6b4c90")
SILENCE_REFRESH_S = 6.0
"""A little over the workers' silence reload (streams.silencing: 5 s)."""


def _record(case: str, source: str, kind: str, at: datetime, site: str,
            attributes: dict[str, Any]) -> tuple[bytes, bytes]:
    import json

    body = {"detection_id": str(uuid.uuid5(_NS, f"{case}:{at.isoformat()}")),
            "source_id": source, "source_kind": "camera", "kind": kind, "confidence": 0.92,
            "observed_at": at.isoformat(), "site_id": site, "attributes": attributes}
    return source.encode(), json.dumps(body).encode()


def _publish(bootstrap: str, records: list[tuple[bytes, bytes]]) -> list[str]:
    import json

    from domain.topics import DETECTIONS
    from kuzet.commands.core import publish_records

    asyncio.run(publish_records(bootstrap, list(records), DETECTIONS))
    return [json.loads(v)["detection_id"] for _, v in records]


def _until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def exercise_cases(settings: Settings, bootstrap: str, rows: list[dict[str, Any]],
                   console: Console, timeout: float = 30.0) -> bool:
    """Merge the plate into the face match and silence a camera; one line each; False if
    either did not go as it should."""
    from kuzet.wiring import build_incident_app

    ids = {r["key"]: UUID(r["id"]) for r in rows}
    if PLATE_KEY not in ids or WANTED_KEY not in ids:
        console.print("[red]merge demo skipped: its incidents are missing[/]")
        return False
    app = build_incident_app(settings)
    try:
        merged = _merge(app, bootstrap, ids[WANTED_KEY], ids[PLATE_KEY], console, timeout)
        return _silence(app, bootstrap, console, timeout) & merged
    finally:
        app.close()


def _merge(app: IncidentApp, bootstrap: str, into: UUID, plate: UUID, console: Console,
           timeout: float) -> bool:
    from domain.commands import Merge
    from domain.errors import VersionConflict

    for attempt in range(3):  # the worker may write either incident meanwhile
        try:
            target, merged = app.merge(into, Merge(plate, "the wanted plate is W-1042's car"),
                                       by="supervisor-dana", at=datetime.now(UTC))
            break
        except VersionConflict:
            if attempt == 2:
                raise
    later = _publish(bootstrap, [_record("plate-after-merge", "cam-14", "plate_match",
                                         datetime.now(UTC), "ring-road-3",
                                         {"plate": "A 123 BC 02"})])
    joined = _until(lambda: set(later) <= app.incident(into).evidence_ids, timeout)
    ok = merged.status.value == "MERGED" and joined
    mark = "✓" if ok else "✗"
    arrived = "joined the face-match incident" if joined else "did NOT arrive"
    console.print(f"{mark} merge: plate incident {str(plate)[:8]} into wanted-face incident "
                  f"{str(into)[:8]} by supervisor-dana ({merged.status.value}; "
                  f"{target.evidence_count} detections); a later plate sighting {arrived}",
                  style=None if ok else "red", highlight=False)
    return ok


def _silence(app: IncidentApp, bootstrap: str, console: Console, timeout: float) -> bool:
    now = datetime.now(UTC)
    silence = app.create_silence(scope="camera", value=QUIET_CAMERA, starts_at=now,
                                 ends_at=now + timedelta(hours=1), by="supervisor-dana",
                                 reason="mast maintenance", at=now)
    time.sleep(SILENCE_REFRESH_S)  # the running workers reload their silences
    at = datetime.now(UTC)
    _publish(bootstrap, [_record(f"quiet-fire-{i}", QUIET_CAMERA, "fire",
                                 at + timedelta(seconds=i), "depot-9", {}) for i in range(3)])
    held = _until(lambda: app.silence(silence.id).count >= 3, timeout)
    opened = [i for i in app.incidents() if QUIET_CAMERA in i.sources]
    ok = held and not opened
    count = app.silence(silence.id).count
    console.print(f"{'✓' if ok else '✗'} silence: camera {QUIET_CAMERA} for 60 min by "
                  f"supervisor-dana (mast maintenance): {count} fire detections held back, "
                  f"{len(opened)} incidents opened", style=None if ok else "red",
                  highlight=False)
    return ok
