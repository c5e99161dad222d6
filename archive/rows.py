"""A detection as the archive stores it: searchable columns in the clear, personal values sealed.

Columns in the clear: ids, source, kind, confidence, time, site, location, and the searchable
description attributes (`class` → vehicle_type, `colour`, `upper_colour`, `lower_colour`, as
`detectors.attributes` writes them). Sealed under the same per-subject keys as the event store
(`eventstore.sealing.Sealer`, so `kuzet privacy shred` reaches the archive):

* `attributes.plate` under `plate:<PLATE>` with look-alikes folded to Latin (a Cyrillic and a
  Latin read of one plate share its key, so one shred takes both), plus its search tag
  (`archive.plates.plate_tag`);
* `attributes.subject_id` under `face:<subject id>`;
* the snapshot reference (uri and sha256) under the subject's key when the detection names a
  plate or subject (a shred of the subject takes it along), else under the camera's key of the
  day, `snapshot:archive:<source id>:<YYYY-MM-DD>` (shredded by snapshot retention).

`attributes.text` (an appeal's free text) is not archived. Other attributes are kept as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from archive.plates import fold_plate, plate_tag
from domain.detection import Detection
from domain.erasure import DataClass, Identity, identity_of
from eventstore.sealing import Sealer

__all__ = ["COLUMNS", "PERSONAL_ATTRIBUTES", "ArchiveRow", "to_row"]

PERSONAL_ATTRIBUTES = frozenset({"plate", "subject_id", "text"})
"""Attributes never stored in the clear (`text` is not stored at all)."""
_DESCRIPTION = {"class": "vehicle_type", "colour": "colour", "upper_colour": "upper_colour",
                "lower_colour": "lower_colour"}


@dataclass(frozen=True, slots=True)
class ArchiveRow:
    detection_id: str
    observed_at: datetime
    source_id: str
    source_kind: str
    kind: str
    confidence: float
    site_id: str | None
    lat: float | None
    lon: float | None
    vehicle_type: str | None
    colour: str | None
    upper_colour: str | None
    lower_colour: str | None
    plate_tag: str | None
    plate_key: str | None
    plate_sealed: str | None
    subject_key: str | None
    subject_sealed: str | None
    snapshot_key: str | None
    snapshot_sealed: str | None
    attrs: str

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in COLUMNS)


COLUMNS = tuple(ArchiveRow.__slots__)


def _text(value: Any) -> str | None:
    return value.strip().lower()[:40] or None if isinstance(value, str) else None


def to_row(d: Detection, sealer: Sealer, pepper: bytes) -> ArchiveRow:
    """The archive row of a validated detection (seals its personal values)."""
    attrs = dict(d.attributes)
    observed = d.observed_at.astimezone(UTC)
    plate, subject = attrs.get("plate"), attrs.get("subject_id")
    plate = plate if isinstance(plate, str) and fold_plate(plate) else None
    subject = subject if isinstance(subject, str) and subject else None
    owner: Identity | None = None
    plate_key = plate_sealed = subject_key = subject_sealed = None
    if plate is not None:
        owner = identity_of(DataClass.PLATE, fold_plate(plate))  # one key for both scripts
        plate_key, plate_sealed = _seal(sealer, plate, owner, "archive.plate")
    if subject is not None:
        face = identity_of(DataClass.FACE, subject)
        owner = owner or face
        subject_key, subject_sealed = _seal(sealer, subject, face, "archive.subject_id")
    snapshot_key = snapshot_sealed = None
    if d.snapshot is not None:
        owner = owner or Identity(DataClass.SNAPSHOT,
                                  f"archive:{d.source_id}:{observed.date().isoformat()}")
        snapshot_key, snapshot_sealed = _seal(
            sealer, json.dumps({"uri": d.snapshot.uri, "sha256": d.snapshot.sha256}), owner,
            "archive.snapshot")
    return ArchiveRow(
        detection_id=str(d.detection_id), observed_at=observed, source_id=d.source_id,
        source_kind=d.source_kind.value, kind=d.kind.value, confidence=float(d.confidence),
        site_id=d.site_id, lat=d.location.lat if d.location else None,
        lon=d.location.lon if d.location else None,
        **{column: _text(attrs.get(name)) for name, column in _DESCRIPTION.items()},
        plate_tag=plate_tag(pepper, fold_plate(plate)) if plate is not None else None,
        plate_key=plate_key, plate_sealed=plate_sealed, subject_key=subject_key,
        subject_sealed=subject_sealed, snapshot_key=snapshot_key,
        snapshot_sealed=snapshot_sealed, attrs=_public(attrs))


def _seal(sealer: Sealer, plaintext: str, identity: Identity,
          field: str) -> tuple[str, str]:
    marker = sealer.seal(plaintext, identity, field, None)
    return str(marker["k"]), json.dumps(marker, separators=(",", ":"))


def _public(attrs: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in attrs.items()
            if k not in PERSONAL_ATTRIBUTES and k not in _DESCRIPTION}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
