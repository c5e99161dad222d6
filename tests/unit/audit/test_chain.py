"""The hash chain's rules, on an in-memory log: hashing, linking, and each kind of break.

`MemoryLog` is a plain in-memory implementation of `ChainSource` (two lists joined by
position), not a double: the SQL ones are exercised against SQLite and PostgreSQL in
tests/integration/audit.
"""

from __future__ import annotations

import dataclasses
import json
from uuid import uuid4

import pytest

from audit.chain import (
    GENESIS,
    Anchor,
    BreakKind,
    ChainedEvent,
    ChainError,
    Link,
    extend,
    link_hash,
    parse_anchors,
    to_us,
    verify_chain,
)
from tests.helpers import T0

Row = tuple[str, int, str, bytes]  # originator_id, version, topic, state


class MemoryLog:
    """Events by position and chain links by position, joined like the SQL recorders join them."""

    def __init__(self, n: int, *, per_txn: int = 3) -> None:
        self.events: dict[int, Row] = {}
        self.chain: dict[int, Link] = {}
        ids = [str(uuid4()) for _ in range(4)]
        for start in range(1, n + 1, per_txn):
            batch = [(p, ids[p % 4], p, "domain.incident:Incident.Noted", f"state {p}".encode())
                     for p in range(start, min(start + per_txn, n + 1))]
            self.append(batch, to_us(T0) + start)

    def append(self, batch: list[tuple[int, str, int, str, bytes]], now_us: int) -> None:
        last = self.chain[max(self.chain)] if self.chain else None
        for (position, *row), link in zip(batch, extend(last, batch, now_us), strict=True):
            self.events[position] = tuple(row)  # type: ignore[assignment]
            self.chain[position] = link

    def read_chained(self, start: int, limit: int) -> list[ChainedEvent]:
        positions = sorted(p for p in self.events if p >= start)[:limit]
        return [ChainedEvent(p, *self.events[p], self.chain.get(p)) for p in positions]

    def links(self, start: int, stop: int | None = None) -> list[Link]:
        return [self.chain[p] for p in sorted(self.chain)
                if start <= p and (stop is None or p <= stop)]


def test_an_untouched_log_verifies_and_links_name_their_predecessor() -> None:
    log = MemoryLog(20)
    result = verify_chain(log, batch=7)
    assert result.ok and result.checked == 20 and result.last == log.chain[20]
    assert log.chain[1].prev_hash == GENESIS and log.chain[1].prev_position == 0
    assert all(log.chain[p].prev_hash == log.chain[p - 1].hash for p in range(2, 21))


def test_the_hash_covers_every_field_of_the_canonical_form() -> None:
    args = (GENESIS, 5, 4, 1_000, "id", 3, "topic", b"state")
    base = link_hash(*args)
    for i, changed in enumerate((b"\x01" * 32, 6, 3, 1_001, "iD", 4, "topiC", b"statE")):
        assert link_hash(*args[:i], changed, *args[i + 1:]) != base, i
    # length prefixes: moving a byte from one field to the next changes the hash
    assert link_hash(GENESIS, 5, 4, 1_000, "id", 3, "ab", b"c") != link_hash(
        GENESIS, 5, 4, 1_000, "id", 3, "a", b"bc")


def test_recorded_times_never_decrease_even_if_the_clock_steps_back() -> None:
    first = extend(None, [(1, "a", 1, "t", b"x"), (2, "a", 2, "t", b"y")], now_us=500)
    assert [k.recorded_at_us for k in first] == [500, 500]
    later = extend(first[-1], [(4, "a", 3, "t", b"z")], now_us=400)  # clock stepped back
    assert later[0].recorded_at_us == 500 and later[0].prev_position == 2


def _swap(log: MemoryLog, p: int, q: int) -> None:
    log.events[p], log.events[q] = log.events[q], log.events[p]


def _shift(log: MemoryLog, at: int, by: int) -> None:
    """Renumber the events from `at` on by `by` (how a forger makes or closes a hole)."""
    moved = {p + by if p >= at else p: row for p, row in log.events.items()}
    log.events = moved


def _edit(log: MemoryLog) -> None:
    oid, version, topic, state = log.events[8]
    log.events[8] = (oid, version, topic, state[:-1] + b"!")


def _delete(log: MemoryLog) -> None:
    del log.events[8]


def _delete_with_link(log: MemoryLog) -> None:
    del log.events[8]
    del log.chain[8]


def _delete_and_renumber(log: MemoryLog) -> None:
    del log.events[8]
    _shift(log, 9, -1)


def _insert_and_renumber(log: MemoryLog) -> None:
    _shift(log, 8, +1)
    log.events[8] = (str(uuid4()), 1, "domain.incident:Incident.Opened", b"forged")


def _append_forged(log: MemoryLog) -> None:
    log.events[21] = (str(uuid4()), 1, "domain.incident:Incident.Opened", b"forged")


def _drop_tail(log: MemoryLog) -> None:
    del log.events[20]
    del log.events[19]


@pytest.mark.parametrize(("tamper", "kind", "position"), [
    (_edit, BreakKind.EDITED, 8),
    (_delete, BreakKind.DELETED, 8),
    (_delete_with_link, BreakKind.DELETED, 8),
    (_delete_and_renumber, BreakKind.DELETED, 8),
    (_insert_and_renumber, BreakKind.INSERTED, 8),
    (_append_forged, BreakKind.INSERTED, 21),
    (lambda log: _swap(log, 8, 15), BreakKind.REORDERED, 8),
    (_drop_tail, BreakKind.DELETED, 19),
])
def test_each_kind_of_tampering_is_found_at_its_position(tamper, kind, position) -> None:
    log = MemoryLog(20)
    tamper(log)
    result = verify_chain(log, batch=4)
    assert result.broken is not None, "tampering went unnoticed"
    assert (result.broken.kind, result.broken.position) == (kind, position), result.broken
    assert result.checked == position - 1  # every event before the break was checked


def test_a_rewritten_link_is_found_where_the_next_link_disagrees() -> None:
    log = MemoryLog(20)
    _edit(log)
    old = log.chain[8]
    oid, version, topic, state = log.events[8]
    forged = link_hash(old.prev_hash, 8, 7, old.recorded_at_us, oid, version, topic, state)
    log.chain[8] = dataclasses.replace(old, hash=forged)
    broken = verify_chain(log).broken
    assert broken is not None and (broken.kind, broken.position) == (BreakKind.EDITED, 8)


def _rewrite_from(log: MemoryLog, position: int) -> None:
    """Edit an event and recompute every later link consistently: the chain alone can't tell."""
    _edit(log)
    before = log.chain[position - 1]
    rows = [(p, *log.events[p]) for p in sorted(log.events) if p >= position]
    for p in [p for p in log.chain if p >= position]:
        del log.chain[p]
    for (p, *_), link in zip(rows, extend(before, rows, before.recorded_at_us), strict=True):
        log.chain[p] = link


def test_anchors_catch_a_consistently_rewritten_chain() -> None:
    log = MemoryLog(20)
    anchor = Anchor(12, log.chain[12].hash, "2026-11-26T10:00:00+00:00", "2026-11-26T10:05:00+00:00")
    assert verify_chain(log, [anchor]).anchors == 1
    _rewrite_from(log, 8)
    assert verify_chain(log).ok  # self-consistent again
    broken = verify_chain(log, [anchor]).broken
    assert broken is not None and (broken.kind, broken.position) == (BreakKind.REWRITTEN, 12)


def test_an_anchor_beyond_a_truncated_log_reports_the_deletion() -> None:
    log = MemoryLog(20)
    anchor = Anchor(20, log.chain[20].hash, "t", "t")
    for p in (19, 20):
        del log.events[p]
        del log.chain[p]
    broken = verify_chain(log, [anchor]).broken
    assert broken is not None and (broken.kind, broken.position) == (BreakKind.DELETED, 20)


def test_anchor_lines_round_trip_and_bad_lines_name_their_line() -> None:
    link = MemoryLog(3).chain[3]
    line = Anchor.of(link, T0).to_json()
    assert json.loads(line)["position"] == 3
    assert parse_anchors(["", line]) == [Anchor.of(link, T0)]
    with pytest.raises(ChainError, match="line 2"):
        parse_anchors([line, '{"position": 1}'], "anchors")


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ChainError, match="no UTC offset"):
        to_us(T0.replace(tzinfo=None))
