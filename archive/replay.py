"""Archived detections back as `Detection` values, for backtests (`domain.backtest`).

Rows come in observed_at order; plates and subject ids are opened with the event store's keys
(correlation keys need them: `plate_match` keys by plate). A detection whose plate or subject
was shredded is left out and counted (`Replayed.shredded`): its key is gone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from archive.store import ArchiveStore
from domain.detection import Detection, DetectionId, Location
from domain.kinds import Kind, SourceKind
from domain.privacy import SHREDDED
from eventstore.sealing import Sealer

__all__ = ["Replayed"]

_DESCRIPTION = {"vehicle_type": "class", "colour": "colour", "upper_colour": "upper_colour",
                "lower_colour": "lower_colour"}


@dataclass
class Replayed:
    store: ArchiveStore
    sealer: Sealer
    read: int = 0
    shredded: int = 0

    def between(self, start: datetime, end: datetime) -> Iterator[Detection]:
        for row in self.store.rows_between(start, end):
            self.read += 1
            detection = self._detection(row)
            if detection is None:
                self.shredded += 1
            else:
                yield detection

    def _detection(self, row: dict[str, Any]) -> Detection | None:
        attrs: dict[str, Any] = json.loads(row["attrs"] or "{}")
        for column, name in _DESCRIPTION.items():
            if row[column] is not None:
                attrs[name] = row[column]
        for column, name in (("plate_sealed", "plate"), ("subject_sealed", "subject_id")):
            if row[column] is not None:
                value = self.sealer.open(json.loads(row[column]))
                if value == SHREDDED:
                    return None
                attrs[name] = value
        location = None if row["lat"] is None else Location(row["lat"], row["lon"])
        return Detection(DetectionId(str(row["detection_id"])), row["source_id"],
                         SourceKind(row["source_kind"]), Kind(row["kind"]),
                         float(row["confidence"]), row["observed_at"], row["site_id"],
                         location, None, MappingProxyType(attrs))
