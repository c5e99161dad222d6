"""A fast decoder for the detection contract: msgspec structs for the common record, the
domain's validator for everything else.

`domain.detection.validate_detection_dict` walks a decoded dict field by field (~15 µs a
record on the correlator's hot path, twice: route and correlate hop). Here msgspec decodes
the bytes straight into typed structs (unknown keys refused), and a few checks stand for the
contract's field rules. The fast path is deliberately *narrower* than the contract: it only
ever answers "this record is valid, and here is the `Detection`" for plain records (canonical
lower-case UUID, ASCII identifiers, no escapes in the bytes, no attributes, no kind that
requires some); anything else — including every invalid record — goes to the domain's
validator, which decides and names the errors. So the accept/refuse decisions and the
`Detection` built are exactly the domain's (tests/unit/test_fastdecode.py checks that with
hypothesis against `validate_detection_dict`).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from types import MappingProxyType

import msgspec

from domain.detection import (
    MAX_RECORD_BYTES,
    REQUIRED_ATTRIBUTES,
    Detection,
    DetectionId,
    Location,
    ModelRef,
    Snapshot,
)
from domain.kinds import Kind, SourceKind
from domain.validation import MAX_YEAR, MIN_YEAR

__all__ = ["fast_detection"]

_KINDS = {k.value: k for k in Kind}
_SOURCE_KINDS = {k.value: k for k in SourceKind}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NO_ATTRIBUTES: MappingProxyType[str, object] = MappingProxyType({})
_SLOW_KINDS = frozenset(REQUIRED_ATTRIBUTES) | {Kind.CANTEEN_COUNT}
"""Kinds with attribute or site rules of their own: always the domain's validator."""


class _Location(msgspec.Struct, forbid_unknown_fields=True):
    lat: float
    lon: float


class _Snapshot(msgspec.Struct, forbid_unknown_fields=True):
    uri: str
    sha256: str | None = None  # optional since the contract made it so (reference only)


class _Model(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    version: str


class _Record(msgspec.Struct, forbid_unknown_fields=True):
    detection_id: str
    source_id: str
    source_kind: str
    kind: str
    confidence: float
    observed_at: str
    site_id: str | None = None
    location: _Location | None = None
    bbox: tuple[float, float, float, float] | None = None
    attributes: dict[str, object] | None = None
    snapshot: _Snapshot | None = None
    model: _Model | None = None


_decoder = msgspec.json.Decoder(_Record)


def _ident(value: str) -> bool:
    """What `FieldChecker.ident` accepts, narrowed to ASCII (the rest: the domain decides)."""
    return (0 < len(value) <= 128 and value.isascii() and not value.isspace()
            and bool(value.strip()) and _CONTROL.search(value) is None)


def _text(value: str) -> bool:
    return 0 < len(value) <= 128 and bool(value.strip()) and value.isascii()


def _unit(x: float) -> bool:
    return math.isfinite(x) and 0.0 <= x <= 1.0


def _observed(value: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    if at.tzinfo is None or "T" not in value.upper() or not MIN_YEAR <= at.year <= MAX_YEAR:
        return None
    return at


def fast_detection(raw: bytes) -> Detection | None:
    """The `Detection` in `raw` when it is a plain valid record; None means "ask the domain's
    validator" (it may be valid or not)."""
    if len(raw) > MAX_RECORD_BYTES or b"\\" in raw:  # escapes: surrogates, odd text
        return None
    try:
        rec = _decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    kind, source_kind = _KINDS.get(rec.kind), _SOURCE_KINDS.get(rec.source_kind)
    if kind is None or source_kind is None or kind in _SLOW_KINDS or rec.attributes:
        return None
    at = _observed(rec.observed_at)
    if (at is None or _UUID.match(rec.detection_id) is None or not _ident(rec.source_id)
            or not _unit(rec.confidence)
            or (rec.site_id is not None and not _ident(rec.site_id))):
        return None
    location = bbox = snapshot = model = None
    if (loc := rec.location) is not None:
        if not (math.isfinite(loc.lat) and math.isfinite(loc.lon)
                and -90.0 <= loc.lat <= 90.0 and -180.0 <= loc.lon <= 180.0):
            return None
        location = Location(loc.lat, loc.lon)
    if (box := rec.bbox) is not None:
        x, y, w, h = box
        if not (_unit(x) and _unit(y) and _unit(w) and _unit(h)
                and x + w <= 1.0 + 1e-6 and y + h <= 1.0 + 1e-6):
            return None
        bbox = box
    if (snap := rec.snapshot) is not None:
        if not (0 < len(snap.uri) <= 1024
                and (snap.sha256 is None or _SHA256.match(snap.sha256))):
            return None
        snapshot = Snapshot(snap.uri, snap.sha256)
    if (ref := rec.model) is not None:
        if not (_text(ref.name) and _text(ref.version)):
            return None
        model = ModelRef(ref.name, ref.version)
    return Detection(
        detection_id=DetectionId(rec.detection_id), source_id=rec.source_id,
        source_kind=source_kind, kind=kind, confidence=rec.confidence, observed_at=at,
        site_id=rec.site_id, location=location, bbox=bbox, attributes=_NO_ATTRIBUTES,
        snapshot=snapshot, model=model,
    )
