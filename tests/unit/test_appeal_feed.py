"""The appeal portal's feed, folded from incident events: told when an appeal joins (with the
current status) and on every status change after; nothing for incidents without appeals."""

from __future__ import annotations

import json
from typing import Any

from domain.log import LogEvent
from streams.appeal_feed import AppealFeed, appeal_status

IID = "7f1d7d2e-0000-4000-8000-000000000001"


def ev(version: int, name: str, **data: Any) -> LogEvent:
    return LogEvent(100 + version, "Incident", name, IID, version,
                    f"2026-12-03T09:{version:02d}:00+00:00", data)


HISTORY = [ev(1, "Opened"), ev(2, "EvidenceAdded"),
           ev(3, "AppealAttached", appeal_id="A-1", category="illegal_dump", text="x"),
           ev(4, "Acknowledged"), ev(5, "AppealAttached", appeal_id="A-2", category="x",
                                     text="y"),
           ev(6, "NoteAdded", text="n"), ev(7, "Resolved", resolution="cleared"),
           ev(8, "Closed")]


def _told(feed: AppealFeed, events: list[LogEvent]) -> list[tuple[str, str, str]]:
    out = []
    for e in events:
        for topic, key, value in feed.messages(e, f"id-{e.version}", e.timestamp):
            body = json.loads(value)
            assert topic == "kuzet.appeals.status.v1" and key.decode() == body["appeal_id"]
            assert body["sequence"] == str(e.position) and body["event_id"] == f"id-{e.version}"
            out.append((body["appeal_id"], body["event_type"], body["status"]))
    return out


def test_the_feed_in_order() -> None:
    feed = AppealFeed(lambda oid, up_to: [e for e in HISTORY if e.version <= up_to])
    assert _told(feed, HISTORY) == [
        ("A-1", "AppealAttached", "OPEN"), ("A-1", "Acknowledged", "ACKNOWLEDGED"),
        ("A-2", "AppealAttached", "ACKNOWLEDGED"), ("A-1", "Resolved", "RESOLVED"),
        ("A-2", "Resolved", "RESOLVED"), ("A-1", "Closed", "CLOSED"),
        ("A-2", "Closed", "CLOSED")]


def test_a_relay_restarted_mid_incident_reads_the_history() -> None:
    cold = AppealFeed(lambda oid, up_to: [e for e in HISTORY if e.version <= up_to])
    assert _told(cold, [HISTORY[6]]) == [("A-1", "Resolved", "RESOLVED"),
                                         ("A-2", "Resolved", "RESOLVED")]
    assert appeal_status(HISTORY) == (["A-1", "A-2"], "CLOSED")


def test_incidents_without_appeals_say_nothing() -> None:
    plain = [ev(1, "Opened"), ev(2, "Acknowledged"), ev(3, "Resolved", resolution="ok")]
    feed = AppealFeed(lambda oid, up_to: [e for e in plain if e.version <= up_to])
    assert _told(feed, plain) == []
