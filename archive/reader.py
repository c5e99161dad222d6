"""Answering a search: rows from the store, personal values opened, one page at a time.

Rows come newest first from the store's indexed query. A plate search never answers a row whose
plate key is shredded (the tag may outlive the shred until the archiver's next purge, the
plaintext never does). A polygon filter is exact: the store narrows by bounding box, the rows
outside the polygon are dropped here, and more rows are fetched until the page is full.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.errors import InvalidSearch
from archive.search import MAX_PAGE, Hit, SearchFilter, decode_cursor, encode_cursor, inside
from archive.store import ArchiveStore
from domain.privacy import SHREDDED
from eventstore.sealing import Sealer

__all__ = ["Page", "Searcher"]


@dataclass(frozen=True)
class Page:
    hits: list[Hit]
    end_cursor: str | None
    has_next: bool


class Searcher:
    def __init__(self, store: ArchiveStore, sealer: Sealer, pepper: bytes) -> None:
        self.store, self.sealer, self.pepper = store, sealer, pepper

    def search(self, f: SearchFilter, first: int = 50, after: str | None = None) -> Page:
        if not 1 <= first <= MAX_PAGE:
            raise InvalidSearch(f"first: {first} is not within 1..{MAX_PAGE}")
        checked = f.checked(self.pepper)
        position: tuple[datetime, str] | None = decode_cursor(after) if after else None
        hits: list[Hit] = []
        more = True
        while len(hits) <= first and more:
            rows = self.store.query(checked, position, first + 1)
            more = len(rows) == first + 1
            for row in rows:
                position = (row["observed_at"], str(row["detection_id"]))
                hit = self._hit(row, checked)
                if hit is not None:
                    hits.append(hit)
            if not checked.polygon:
                break
        page, has_next = hits[:first], len(hits) > first or (more and bool(checked.polygon))
        last = page[-1] if page else None
        return Page(page, encode_cursor(last.observed_at, last.detection_id) if last else None,
                    has_next)

    def _hit(self, row: Mapping[str, Any], f: SearchFilter) -> Hit | None:
        if f.polygon and (row["lat"] is None
                          or not inside(row["lat"], row["lon"], f.polygon)):
            return None
        plate = self._open(row["plate_sealed"])
        if f.plate is not None and plate == SHREDDED:
            return None
        snapshot = self._open(row["snapshot_sealed"])
        uri = snapshot if snapshot in (None, SHREDDED) else json.loads(snapshot)["uri"]
        return Hit(detection_id=str(row["detection_id"]), observed_at=row["observed_at"],
                   source_id=row["source_id"], kind=row["kind"],
                   confidence=float(row["confidence"]), site_id=row["site_id"], lat=row["lat"],
                   lon=row["lon"], vehicle_type=row["vehicle_type"], colour=row["colour"],
                   upper_colour=row["upper_colour"], lower_colour=row["lower_colour"],
                   plate=plate, subject_id=self._open(row["subject_sealed"]),
                   snapshot_uri=uri, incident_id=row.get("incident_id"))

    def _open(self, sealed: str | None) -> str | None:
        return None if sealed is None else self.sealer.open(json.loads(sealed))
