"""The detection contract: one JSON record per message on `kuzet.detections.v1`.

`parse_detection` turns raw bytes into an immutable `Detection` or raises `InvalidDetection`
naming every bad field with its value. `detection_to_dict` / `encode_detection` are the inverse
(used by detectors and the publisher), so a record survives a round trip unchanged.

Validation is hand-written over the standard library's `json` on purpose: the domain imports
nothing but the standard library and `eventsourcing`, and this path runs once per raw detection.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, NewType
from uuid import UUID

from domain.errors import FieldError, InvalidDetection
from domain.kinds import Kind, SourceKind
from domain.validation import MAX_YEAR, MIN_YEAR, FieldChecker, short, unsound_values

__all__ = [
    "MAX_APPEAL_TEXT",
    "MAX_RECORD_BYTES",
    "REQUIRED_ATTRIBUTES",
    "Detection",
    "DetectionId",
    "Location",
    "ModelRef",
    "Skew",
    "Snapshot",
    "check_skew",
    "content_digest",
    "detection_to_dict",
    "encode_detection",
    "parse_detection",
    "plate_key",
    "revalidated_detection",
    "validate_detection_dict",
]

MAX_RECORD_BYTES = 64 * 1024
"""Records larger than this are rejected before parsing (a detector bug, or an attack)."""

DetectionId = NewType("DetectionId", str)

_KINDS = {k.value: k for k in Kind}
_SOURCE_KINDS = {k.value: k for k in SourceKind}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAX_ATTRIBUTES = 32
_BOM = "\ufeff"
_IDENT_ATTRIBUTES = ("subject_id", "plate", "meal", "category", "appeal_id")
"""Attributes that become (part of) a correlation or aggregate key when present."""


def plate_key(plate: str) -> str:
    """A plate as a key: upper case, letters and digits only (`"ab 123-c"` → `"AB123C"`)."""
    return "".join(ch for ch in plate.upper() if ch.isalnum())


@dataclass(frozen=True, slots=True)
class Skew:
    """How far `observed_at` may lie from the processing time (DESIGN: allowed lateness of
    the correlation rules applies within this; a record outside it goes to the DLQ)."""

    ahead: timedelta = timedelta(minutes=5)
    behind: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An evidence image: where it is, and its content digest (None: the detector sent only
    the reference; such an image cannot be checked or served, only referenced)."""

    uri: str
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ModelRef:
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Detection:
    """One validated observation by a detector. Immutable; `attributes` is read-only."""

    detection_id: DetectionId
    source_id: str
    source_kind: SourceKind
    kind: Kind
    confidence: float
    observed_at: datetime
    site_id: str | None = None
    location: Location | None = None
    bbox: tuple[float, float, float, float] | None = None
    attributes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    snapshot: Snapshot | None = None
    model: ModelRef | None = None


def _uuid(check: FieldChecker, rec: Mapping[str, Any]) -> DetectionId | None:
    value = rec.get("detection_id")
    try:
        return DetectionId(str(UUID(value)))
    except (TypeError, ValueError, AttributeError):
        check.bad("detection_id", value, "required, expected a UUID")
        return None


def _location(check: FieldChecker, value: object) -> Location | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        check.bad("location", value, "expected an object {lat, lon}")
        return None
    lat = check.number(value.get("lat"), "location.lat", -90.0, 90.0)
    lon = check.number(value.get("lon"), "location.lon", -180.0, 180.0)
    return Location(lat, lon) if lat is not None and lon is not None else None


def _bbox(check: FieldChecker, value: object) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 4:
        check.bad("bbox", value, "expected [x, y, w, h] normalised to 0..1")
        return None
    parts = [check.number(v, f"bbox[{i}]", 0.0, 1.0) for i, v in enumerate(value)]
    if any(p is None for p in parts):
        return None
    x, y, w, h = (float(p) for p in parts if p is not None)
    if x + w > 1.0 + 1e-6 or y + h > 1.0 + 1e-6:
        check.bad("bbox", value, "box extends past the frame (x+w or y+h > 1)")
        return None
    return (x, y, w, h)


def _snapshot(check: FieldChecker, value: object) -> Snapshot | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        check.bad("snapshot", value, "expected an object {uri, sha256?}")
        return None
    uri, digest = value.get("uri"), value.get("sha256")
    ok = True
    if not isinstance(uri, str) or not uri or len(uri) > 1024:
        check.bad("snapshot.uri", uri, "expected a non-empty URI of at most 1024 chars")
        ok = False
    if digest is not None and (not isinstance(digest, str) or not _SHA256.match(digest)):
        check.bad("snapshot.sha256", digest, "expected 64 lower-case hex digits (or omit it)")
        ok = False
    return Snapshot(str(uri), None if digest is None else str(digest)) if ok else None


def _model(check: FieldChecker, value: object) -> ModelRef | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        check.bad("model", value, "expected an object {name, version}")
        return None
    name = check.text(value, "name", required=True)
    version = check.text(value, "version", required=True)
    return ModelRef(name, version) if name and version else None


def _attributes(check: FieldChecker, kind: Kind | None, value: object) -> Mapping[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict) or len(value) > _MAX_ATTRIBUTES:
        check.bad("attributes", value, f"expected an object with at most {_MAX_ATTRIBUTES} keys")
        return MappingProxyType({})
    attrs = dict(value)
    if attrs.get("count") is not None:
        check.count(attrs["count"], "attributes.count")
    if "similarity" in attrs:
        check.number(attrs["similarity"], "attributes.similarity", 0.0, 1.0)
    required = REQUIRED_ATTRIBUTES.get(kind, ()) if kind is not None else ()
    for name in required:
        if name not in attrs:
            kind_name = getattr(kind, "value", kind)
            check.bad(f"attributes.{name}", None, f"required for kind {kind_name}")
    for name in _IDENT_ATTRIBUTES:
        if name in attrs:
            check.ident(attrs, name, required=name in required, label=f"attributes.{name}")
    if "text" in attrs and (not isinstance(attrs["text"], str)
                            or len(attrs["text"]) > MAX_APPEAL_TEXT):
        check.bad("attributes.text", attrs["text"],
                  f"expected a string of at most {MAX_APPEAL_TEXT} characters")
    plate = attrs.get("plate")
    if isinstance(plate, str) and plate.strip() and not plate_key(plate):
        check.bad("attributes.plate", plate, "no letter or digit: the plate key would be empty")
    return MappingProxyType(attrs)


REQUIRED_ATTRIBUTES: Mapping[Kind, tuple[str, ...]] = MappingProxyType({
    Kind.FACE_MATCH: ("subject_id", "similarity"),
    Kind.PLATE_MATCH: ("plate",),
    Kind.CANTEEN_COUNT: ("count", "meal"),
    Kind.CITIZEN_REPORT: ("category", "appeal_id"),
})
"""Attributes each kind must carry (the published schema says the same)."""
MAX_APPEAL_TEXT = 4000
"""Longest appeal text (`attributes.text` of a citizen_report): free text, personal data."""


def validate_detection_dict(rec: object, *, strict_json: bool = False) -> Detection:
    """Validate an already-decoded JSON object against the contract.

    `strict_json`: the caller decoded it with a decoder that refuses lone surrogates and
    non-finite numbers (orjson), so only the free-form `attributes` are walked for depth (the
    other fields have fixed shapes, checked below); otherwise the whole record is walked.
    """
    if not isinstance(rec, dict):
        raise InvalidDetection((FieldError("<record>", short(rec), "expected a JSON object"),))
    check = FieldChecker()
    if strict_json:
        attrs = rec.get("attributes")
        if isinstance(attrs, dict | list):
            check.errors.extend(unsound_values(attrs, "<record>.attributes", 1))
    else:
        check.errors.extend(unsound_values(rec))
    detection_id = _uuid(check, rec)
    source_id = check.ident(rec, "source_id", required=True)
    source_kind = check.choice(_SOURCE_KINDS, "source_kind", rec.get("source_kind"))
    kind = check.choice(_KINDS, "kind", rec.get("kind"))
    confidence = check.number(rec.get("confidence"), "confidence", 0.0, 1.0)
    observed_at = check.timestamp(rec.get("observed_at"), "observed_at")
    site_id = check.ident(rec, "site_id", required=kind is Kind.CANTEEN_COUNT)
    detection = dict(
        location=_location(check, rec.get("location")),
        bbox=_bbox(check, rec.get("bbox")),
        attributes=_attributes(check, kind, rec.get("attributes")),
        snapshot=_snapshot(check, rec.get("snapshot")),
        model=_model(check, rec.get("model")),
    )
    if check.errors:
        raise InvalidDetection(tuple(check.errors))
    return Detection(
        detection_id=detection_id,  # type: ignore[arg-type]
        source_id=source_id,  # type: ignore[arg-type]
        source_kind=source_kind,
        kind=kind,
        confidence=confidence,  # type: ignore[arg-type]
        observed_at=observed_at,  # type: ignore[arg-type]
        site_id=site_id,
        **detection,  # type: ignore[arg-type]
    )


def revalidated_detection(rec: Mapping[str, Any]) -> Detection:
    """Rebuild a record that `validate_detection_dict` already accepted upstream, skipping the
    field checks (~4x cheaper); for Kuzet's internal correlation topic only.

    Anything malformed still fails (KeyError, ValueError, TypeError); callers then run the full
    validation to name the problem, so a record written there by something else is never
    trusted blindly into a shape the contract forbids.
    """
    loc, box, snap, model = (rec.get("location"), rec.get("bbox"), rec.get("snapshot"),
                             rec.get("model"))
    observed_at = datetime.fromisoformat(rec["observed_at"])
    if observed_at.tzinfo is None or not MIN_YEAR <= observed_at.year <= MAX_YEAR:
        raise ValueError("naive or out-of-range observed_at")
    confidence = rec["confidence"]
    if type(confidence) not in (int, float) or not 0.0 <= confidence <= 1.0:
        raise ValueError("confidence")
    return Detection(
        detection_id=DetectionId(str(UUID(rec["detection_id"]))),
        source_id=str(rec["source_id"]),
        source_kind=_SOURCE_KINDS[rec["source_kind"]],
        kind=_KINDS[rec["kind"]],
        confidence=float(confidence),
        observed_at=observed_at,
        site_id=rec.get("site_id"),
        location=Location(float(loc["lat"]), float(loc["lon"])) if loc is not None else None,
        bbox=(float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None,
        attributes=MappingProxyType(dict(rec.get("attributes") or {})),
        snapshot=_revalidated_snapshot(snap) if snap else None,
        model=ModelRef(str(model["name"]), str(model["version"])) if model else None,
    )


def _revalidated_snapshot(snap: Mapping[str, Any]) -> Snapshot:
    digest = snap.get("sha256")
    return Snapshot(str(snap["uri"]), None if digest is None else str(digest))


def parse_detection(raw: bytes | str) -> Detection:
    """Decode and validate one record; raises `InvalidDetection` naming every bad field."""
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > MAX_RECORD_BYTES:
        raise InvalidDetection(
            (FieldError("<record>", f"{size} bytes", f"larger than {MAX_RECORD_BYTES} bytes"),)
        )
    if raw[:3] == b"\xef\xbb\xbf" or (isinstance(raw, str) and raw.startswith(_BOM)):
        raise InvalidDetection((FieldError("<record>", short(raw[:8]),
                                           "starts with a byte-order mark (send bare UTF-8)"),))
    try:
        rec = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # too deep: not for us
        raise InvalidDetection(
            (FieldError("<record>", short(raw[:60]), f"not JSON: {exc}"),)
        ) from None
    return validate_detection_dict(rec)


def check_skew(d: Detection, now: datetime, skew: Skew) -> None:
    """Refuse a detection observed too far ahead of or behind the processing time `now`
    (the caller's clock: the domain reads none); raises `InvalidDetection` naming both."""
    if d.observed_at - now > skew.ahead:
        reason = f"more than {skew.ahead} ahead of the processing time {now.isoformat()}"
    elif now - d.observed_at > skew.behind:
        reason = f"more than {skew.behind} behind the processing time {now.isoformat()}"
    else:
        return
    raise InvalidDetection((FieldError("observed_at", d.observed_at.isoformat(), reason),))


def content_digest(d: Detection) -> str:
    """SHA-256 of the record's content in a canonical form: equal for a redelivery of the same
    content (whatever its spacing or key order), different when a `detection_id` is reused.

    Built from the fields (attributes as sorted JSON) rather than by re-serialising the whole
    record: this runs once per detection on the correlator's hot path (~3x cheaper)."""
    attributes = (json.dumps(dict(d.attributes), sort_keys=True, separators=(",", ":"))
                  if d.attributes else "")
    canonical = repr((
        d.detection_id, d.source_id, d.source_kind.value, d.kind.value, d.confidence,
        d.observed_at.isoformat(), d.site_id,
        (d.location.lat, d.location.lon) if d.location else None, d.bbox, attributes,
        (d.snapshot.uri, d.snapshot.sha256) if d.snapshot else None,
        (d.model.name, d.model.version) if d.model else None,
    ))
    return hashlib.sha256(canonical.encode("utf-8", "backslashreplace")).hexdigest()


def detection_to_dict(d: Detection) -> dict[str, Any]:
    """The contract's JSON object for `d` (optional fields omitted when absent)."""
    out: dict[str, Any] = {
        "detection_id": d.detection_id,
        "source_id": d.source_id,
        "source_kind": d.source_kind.value,
        "kind": d.kind.value,
        "confidence": d.confidence,
        "observed_at": d.observed_at.isoformat(),
    }
    if d.site_id is not None:
        out["site_id"] = d.site_id
    if d.location is not None:
        out["location"] = {"lat": d.location.lat, "lon": d.location.lon}
    if d.bbox is not None:
        out["bbox"] = list(d.bbox)
    if d.attributes:
        out["attributes"] = dict(d.attributes)
    if d.snapshot is not None:
        out["snapshot"] = ({"uri": d.snapshot.uri, "sha256": d.snapshot.sha256}
                           if d.snapshot.sha256 is not None else {"uri": d.snapshot.uri})
    if d.model is not None:
        out["model"] = {"name": d.model.name, "version": d.model.version}
    return out


def encode_detection(d: Detection) -> bytes:
    """Compact UTF-8 JSON for `d`, as published on `kuzet.detections.v1`."""
    return json.dumps(detection_to_dict(d), separators=(",", ":")).encode()
