"""`kuzet publish --now`: replay a recorded or sample file as if it were happening now.

Every record's `observed_at` is shifted by one offset so that the latest becomes now; the
spacing between records (what the correlation windows see) stays. Lines that are not JSON
objects with a parsable `observed_at` are left as they are (the DLQ still gets them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

__all__ = ["restamp"]


def _observed(value: bytes) -> datetime | None:
    try:
        at = datetime.fromisoformat(json.loads(value)["observed_at"])
    except (ValueError, TypeError, KeyError):
        return None
    return at if at.tzinfo is not None else None


def restamp(records: Sequence[tuple[bytes | None, bytes]], now: datetime
            ) -> list[tuple[bytes | None, bytes]]:
    """`records` with every `observed_at` moved by (now - the latest observed_at)."""
    times = [_observed(v) for _, v in records]
    known = [t for t in times if t is not None]
    if not known:
        return list(records)
    shift: timedelta = now - max(known)
    out: list[tuple[bytes | None, bytes]] = []
    for (key, value), at in zip(records, times, strict=True):
        if at is None:
            out.append((key, value))
            continue
        rec = json.loads(value)
        rec["observed_at"] = (at + shift).isoformat()
        out.append((key, json.dumps(rec, ensure_ascii=False).encode()))
    return out
