"""`kuzet publish --now`: one shift for every record, spacing kept, malformed lines untouched."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from kuzet.restamp import restamp

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def _line(at: str, **extra: object) -> tuple[bytes, bytes]:
    return b"cam", json.dumps({"observed_at": at, "kind": "fire", **extra}).encode()


def test_the_latest_record_becomes_now_and_spacing_stays() -> None:
    records = [_line("2026-12-03T10:00:00+05:00"), _line("2026-12-03T10:00:04+05:00", n="ж"),
               (None, b"{not json"), _line("no time")]
    out = restamp(records, NOW)
    times = [datetime.fromisoformat(json.loads(v)["observed_at"]) for _, v in out[:2]]
    assert times == [NOW - timedelta(seconds=4), NOW]
    assert json.loads(out[1][1])["n"] == "ж" and out[1][0] == b"cam"
    assert out[2:] == records[2:]


def test_nothing_to_shift() -> None:
    records = [(None, b"[]"), _line("yesterday")]
    assert restamp(records, NOW) == records
