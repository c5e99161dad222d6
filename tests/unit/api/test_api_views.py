"""Pure parts of the API's read side and fan-out (milliseconds): view pages and cursors, the
incident filter's CLOSED rule, board agencies after routing, and shared `next` frames."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.errors import BadCursor
from api.reader import IncidentFilterSpec, decode_cursor
from api.schema.broadcast import NextFrames
from api.views import (
    BOARD,
    CANTEEN,
    Row,
    Snapshot,
    decode_view_cursor,
    encode_view_cursor,
    instant,
    page_of,
)
from domain.log import LogEvent
from projections.views.board import OperatorBoard


def _snapshot(n: int) -> Snapshot:
    rows = [Row((f"2026-01-01T00:00:{i:02d}.000000+00:00", f"k{i}"),
                {"id": f"k{i}", "even": i % 2 == 0}) for i in range(n)]
    return Snapshot(7, rows, [r.order for r in rows])


def test_instants_sort_like_the_instants_they_name() -> None:
    t = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    texts = [instant(t), instant(t + timedelta(microseconds=1)),
             instant((t + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=5))))]
    assert texts == sorted(texts) and instant(t.isoformat()) == texts[0]


def test_view_pages_follow_the_cursor_and_count_every_match() -> None:
    snap = _snapshot(7)
    even = lambda doc: doc["even"]  # noqa: E731
    seen, after = [], None
    while True:
        page = page_of(snap, even, 2, after)
        assert page.total == 4 and page.position == 7
        seen += [r.doc["id"] for r in page.rows]
        if not page.has_next:
            break
        after = decode_view_cursor(BOARD, encode_view_cursor(BOARD, page.rows[-1].order))
    assert seen == ["k0", "k2", "k4", "k6"]
    gone = ("2026-01-01T00:00:03.500000+00:00", "k3x")  # a row that left between pages
    assert [r.doc["id"] for r in page_of(snap, even, 5, gone).rows] == ["k4", "k6"]


@pytest.mark.parametrize("cursor", ["", "bm9wZQ==", "%%%", encode_view_cursor(CANTEEN, ("x",))])
def test_foreign_or_garbled_view_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(BadCursor):
        decode_view_cursor(BOARD, cursor)
    with pytest.raises(BadCursor):
        decode_cursor(cursor)


def test_incident_filter_leaves_closed_out_unless_asked() -> None:
    row = {"status": "CLOSED", "kind": "fire", "agencies": ["emergency"], "site_id": "s",
           "opened_at": "2026-01-01T00:00:00+00:00"}
    assert not IncidentFilterSpec().matches_row(row)
    assert IncidentFilterSpec(statuses=frozenset({"CLOSED"})).matches_row(row)
    assert IncidentFilterSpec(statuses=frozenset({"CLOSED"})).wants_closed
    assert not IncidentFilterSpec(statuses=frozenset({"CLOSED"}), scope="police").matches_row(row)


def test_board_rows_carry_agencies_and_follow_routing() -> None:
    board = OperatorBoard()
    opened = LogEvent(1, "Incident", "Opened", "i-1", 1, "2026-01-01T00:00:00+00:00", {
        "kind": "fire", "severity": 3, "site_id": "s", "sla_due_at": "2026-01-01T00:05:00+00:00",
        "source_ids": ["cam-1"], "detection_ids": ["d1"], "agencies": ["emergency"]})
    routed = LogEvent(2, "Incident", "RoutedTo", "i-1", 2, "2026-01-01T00:01:00+00:00",
                      {"agencies": ["education"], "actor": "rule:x"})
    doc = board.apply(board.apply(None, opened), routed)
    assert doc is not None and doc["agencies"] == ["emergency", "education"]


def test_next_frames_are_exactly_strawberrys_and_share_one_encoding() -> None:
    frames = NextFrames(size=2)
    data = {"incidentUpdates": {"cursor": "12", "note": 'quote " and ünïcode'}}
    for op in ("1", 'we"ird', "3"):
        message = {"id": op, "type": "next", "payload": {"data": data}}
        assert frames.encode(message) == json.dumps(message, separators=(",", ":"))
    assert len(frames) == 1  # one text for the shared data, whatever the operation id
    for i in range(3):
        frames.encode({"id": "1", "type": "next", "payload": {"data": {"n": i}}})
    assert len(frames) == 2  # bounded
    assert frames.encode({"id": "1", "type": "next",
                          "payload": {"data": data, "errors": []}}) is None
    assert frames.encode({"type": "connection_ack"}) is None
    assert frames.encode([1, 2]) is None
