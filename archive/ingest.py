"""Detections in, archive rows out: parse, seal, write; a poison record is counted and skipped.

`Archiver.take` handles one fetched batch: each value is parsed against the detection contract
(`domain.detection.parse_detection`: an invalid one is skipped here, the route hop already
dead-letters it), sealed (`archive.rows.to_row`) and written in one batch. If the database
refuses the batch for a value in it (`RowRefused`), the batch is written row by row and only
the refused rows are skipped. Incident events (`kuzet.incident-events.v1`) give the links
detection → incident (`links_of`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from archive.errors import RowRefused
from archive.rows import ArchiveRow, to_row
from archive.store import ArchiveStore
from domain.detection import MAX_RECORD_BYTES, parse_detection
from domain.errors import InvalidDetection
from eventstore.sealing import Sealer

__all__ = ["Archiver", "IngestStats", "links_of"]

log = logging.getLogger("kuzet.archive")
_EVIDENCE_TYPES = ("opened", "evidence_added", "late_evidence_added", "reopened")


@dataclass
class IngestStats:
    """What the archiver did (the CLI, /readyz and tests read it)."""

    records: int = 0
    written: int = 0
    duplicates: int = 0
    invalid: int = 0
    refused: int = 0
    links: int = 0


class Archiver:
    def __init__(self, store: ArchiveStore, sealer: Sealer, pepper: bytes) -> None:
        self.store, self.sealer, self.pepper = store, sealer, pepper
        self.stats = IngestStats()

    def rows(self, values: Iterable[bytes | None]) -> list[ArchiveRow]:
        out: list[ArchiveRow] = []
        for value in values:
            self.stats.records += 1
            if value is None or len(value) > MAX_RECORD_BYTES:
                self.stats.invalid += 1
                continue
            try:
                detection = parse_detection(value)
            except InvalidDetection as exc:
                self.stats.invalid += 1
                log.debug("not archived: %s", exc)
                continue
            out.append(to_row(detection, self.sealer, self.pepper))
        return out

    def take(self, values: Sequence[bytes | None]) -> int:
        """Archive one batch of raw detections; returns rows newly written."""
        rows = self.rows(values)
        refused_before = self.stats.refused
        try:
            written = self.store.write(rows)
        except RowRefused:
            written = self._one_by_one(rows)
        self.stats.written += written
        self.stats.duplicates += len(rows) - written - self.stats.refused + refused_before
        return written

    def _one_by_one(self, rows: Sequence[ArchiveRow]) -> int:
        written = 0
        for row in rows:
            try:
                written += self.store.write([row])
            except RowRefused as exc:
                self.stats.refused += 1
                log.warning("detection %s not archived: %s", row.detection_id, exc)
        return written

    def link(self, values: Sequence[bytes | None]) -> int:
        pairs = [p for v in values for p in links_of(v)]
        done = self.store.link(pairs) if pairs else 0
        self.stats.links += done
        return done


def links_of(value: bytes | None) -> list[tuple[str, str]]:
    """(detection id, incident id) pairs an incident event (CloudEvents JSON) names."""
    try:
        event = json.loads(value or b"")
        kind = str(event.get("type", ""))
        if kind.removeprefix("kuzet.incident.").removesuffix(".v1") not in _EVIDENCE_TYPES:
            return []
        ids = event.get("data", {}).get("detection_ids") or []
        incident = str(event["subject"])
    except (ValueError, AttributeError, KeyError, TypeError):
        return []
    return [(str(d), incident) for d in ids if _uuid(d)]


def _uuid(value: object) -> bool:
    try:
        return isinstance(value, str) and len(value) == 36 and bool(uuid.UUID(value))
    except ValueError:
        return False
