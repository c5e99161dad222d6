"""The source-health contract: one JSON record per message on `kuzet.health.v1` (key = source_id).

Detector processes publish a `heartbeat` per source every few seconds while it delivers frames,
`source_offline` when a source cannot be opened or stops delivering (with the reason), and
`source_online` when it comes back. The correlator uses them to tell "camera silent" from
"nothing happening". Fields: `source_id`, `source_kind`, `status`, `observed_at` (RFC 3339
with offset), optional `site_id`, `frames` (frames read since the previous record), `detections`
(records published since the previous record), `reason` (text, for offline), `detector` (the
publishing process). `parse_health` raises `InvalidHealthRecord` naming each bad field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from domain.errors import FieldError, InvalidHealthRecord
from domain.kinds import SourceKind
from domain.validation import FieldChecker, short

__all__ = [
    "HealthRecord",
    "HealthStatus",
    "InvalidHealthRecord",
    "encode_health",
    "health_to_dict",
    "parse_health",
]


class HealthStatus(str, Enum):
    HEARTBEAT = "heartbeat"
    SOURCE_OFFLINE = "source_offline"
    SOURCE_ONLINE = "source_online"


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """One statement about a source's health at `observed_at`."""

    source_id: str
    source_kind: SourceKind
    status: HealthStatus
    observed_at: datetime
    site_id: str | None = None
    frames: int = 0
    detections: int = 0
    reason: str | None = None
    detector: str | None = None


def health_to_dict(h: HealthRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "source_id": h.source_id,
        "source_kind": h.source_kind.value,
        "status": h.status.value,
        "observed_at": h.observed_at.isoformat(),
        "frames": h.frames,
        "detections": h.detections,
    }
    for name in ("site_id", "reason", "detector"):
        if getattr(h, name) is not None:
            out[name] = getattr(h, name)
    return out


def encode_health(h: HealthRecord) -> bytes:
    return json.dumps(health_to_dict(h), separators=(",", ":")).encode()


_SOURCE_KINDS = {k.value: k for k in SourceKind}
_STATUSES = {s.value: s for s in HealthStatus}


def parse_health(raw: bytes | str) -> HealthRecord:
    """Decode and validate one health record; `InvalidHealthRecord` names every bad field."""
    try:
        rec = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidHealthRecord((FieldError("<record>", short(raw[:60]), f"not JSON: {exc}"),)
                                  ) from None
    if not isinstance(rec, dict):
        raise InvalidHealthRecord((FieldError("<record>", short(rec), "expected a JSON object"),))
    check = FieldChecker()
    record = dict(
        source_id=check.text(rec, "source_id", required=True, max_len=512),
        source_kind=check.choice(_SOURCE_KINDS, "source_kind", rec.get("source_kind")),
        status=check.choice(_STATUSES, "status", rec.get("status")),
        observed_at=check.timestamp(rec.get("observed_at"), "observed_at"),
        site_id=check.text(rec, "site_id", required=False, max_len=512),
        frames=check.count(rec.get("frames", 0), "frames"),
        detections=check.count(rec.get("detections", 0), "detections"),
        reason=check.text(rec, "reason", required=False, max_len=512),
        detector=check.text(rec, "detector", required=False, max_len=512),
    )
    if check.errors:
        raise InvalidHealthRecord(tuple(check.errors))
    return HealthRecord(**record)
