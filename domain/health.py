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

from domain.errors import DomainError
from domain.kinds import SourceKind

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


class InvalidHealthRecord(DomainError):
    """Raised by `parse_health` when a record breaks the health contract (every field listed)."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        self.problems = problems
        super().__init__("invalid health record: " + "; ".join(problems))


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


def _text(rec: dict[str, Any], name: str, problems: list[str], *, required: bool) -> str | None:
    value = rec.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 512:
        problems.append(f"{name}={value!r}: expected a non-empty string")
        return None
    return value


def _count(rec: dict[str, Any], name: str, problems: list[str]) -> int:
    value = rec.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"{name}={value!r}: expected a non-negative integer")
        return 0
    return value


def _when(value: object, problems: list[str]) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        problems.append(f"observed_at={value!r}: expected an RFC 3339 timestamp with offset")
        return None
    return parsed


def _choice(table: type[Enum], name: str, value: object, problems: list[str]) -> Any:
    for member in table:
        if member.value == value:
            return member
    problems.append(f"{name}={value!r}: expected one of " + ", ".join(m.value for m in table))
    return None


def parse_health(raw: bytes | str) -> HealthRecord:
    """Decode and validate one health record."""
    try:
        rec = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidHealthRecord((f"not JSON: {exc}",)) from None
    if not isinstance(rec, dict):
        raise InvalidHealthRecord(("expected a JSON object",))
    problems: list[str] = []
    record = dict(
        source_id=_text(rec, "source_id", problems, required=True),
        source_kind=_choice(SourceKind, "source_kind", rec.get("source_kind"), problems),
        status=_choice(HealthStatus, "status", rec.get("status"), problems),
        observed_at=_when(rec.get("observed_at"), problems),
        site_id=_text(rec, "site_id", problems, required=False),
        frames=_count(rec, "frames", problems),
        detections=_count(rec, "detections", problems),
        reason=_text(rec, "reason", problems, required=False),
        detector=_text(rec, "detector", problems, required=False),
    )
    if problems:
        raise InvalidHealthRecord(tuple(problems))
    return HealthRecord(**record)
