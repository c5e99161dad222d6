"""Tampering with the stored events of a real chained store, SQLite and PostgreSQL: `verify`
finds each change at the right position and names its kind; anchors catch a rewritten chain;
a store written before the chain existed is adopted; concurrent writers keep one chain."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from audit.chain import Anchor, BreakKind, extend, verify_chain
from domain.application import IncidentApp
from domain.incident import Incident
from eventstore.log import UnchainedStoreError, chain_of
from kuzet.settings import CHAINED_POSTGRES, CHAINED_SQLITE
from tests.helpers import T0
from tests.integration.audit.conftest import Tamper
from tests.integration.projections.scenario import RULES, build

P, Q = 10, 20
PLAIN = {CHAINED_SQLITE: "eventsourcing.sqlite", CHAINED_POSTGRES: "eventsourcing.postgres"}


def _edit_state_byte(t: Tamper) -> None:
    oid, version, topic, state = t.row(P)
    t.put(P, (oid, version, topic, bytes(state[:5]) + b"X" + bytes(state[6:])))


def _delete_row(t: Tamper) -> None:
    t.sql("DELETE FROM {ev} WHERE {pos} = ?", P)


def _delete_row_and_its_link(t: Tamper) -> None:
    _delete_row(t)
    t.sql("DELETE FROM {ch} WHERE notification_id = ?", P)


def _delete_and_close_the_gap(t: Tamper) -> None:
    _delete_row(t)
    t.shift(P + 1, -1)


def _insert_forged_row(t: Tamper) -> None:
    """A forged event slipped in at P, later events renumbered to make room."""
    oid, _, topic, state = t.row(P)
    t.shift(P, +1)
    t.sql("INSERT INTO {ev} ({pos}, originator_id, originator_version, topic, state) "
          "VALUES (?, ?, ?, ?, ?)", P, oid, 99, topic, state)


def _append_forged_row(t: Tamper) -> None:
    oid, _, topic, state = t.row(P)
    t.sql("INSERT INTO {ev} (originator_id, originator_version, topic, state) "
          "VALUES (?, ?, ?, ?)", oid, 99, topic, state)


def _swap_two_rows(t: Tamper) -> None:
    p, q = t.row(P), t.row(Q)
    t.put(P, (p[0], -1, p[2], p[3]))  # (originator_id, version) is unique: park P first
    t.put(Q, p)
    t.put(P, q)


def _head(t: Tamper) -> int:
    return int(t.sql("SELECT MAX({pos}) FROM {ev}")[0][0])


@pytest.mark.postgres
def test_an_untouched_store_verifies(scenario_app: IncidentApp, tamper: Tamper) -> None:
    result = verify_chain(chain_of(scenario_app), batch=7)
    assert result.ok, result.broken
    assert result.checked == _head(tamper) > Q


@pytest.mark.postgres
@pytest.mark.parametrize(("change", "kind"), [
    (_edit_state_byte, BreakKind.EDITED),
    (_delete_row, BreakKind.DELETED),
    (_delete_row_and_its_link, BreakKind.DELETED),
    (_delete_and_close_the_gap, BreakKind.DELETED),
    (_insert_forged_row, BreakKind.INSERTED),
    (_swap_two_rows, BreakKind.REORDERED),
])
def test_verify_locates_each_kind_of_tampering(scenario_app: IncidentApp, tamper: Tamper,
                                                change, kind) -> None:
    change(tamper)
    broken = verify_chain(chain_of(scenario_app), batch=7).broken
    assert broken is not None, "tampering went unnoticed"
    assert (broken.kind, broken.position) == (kind, P), broken


@pytest.mark.postgres
def test_a_forged_row_appended_after_the_head_is_found(scenario_app: IncidentApp,
                                                         tamper: Tamper) -> None:
    head = _head(tamper)
    _append_forged_row(tamper)
    broken = verify_chain(chain_of(scenario_app)).broken
    assert broken is not None and (broken.kind, broken.position) == (BreakKind.INSERTED, head + 1)


@pytest.mark.postgres
def test_anchors_catch_a_consistently_rewritten_chain(scenario_app: IncidentApp,
                                                      tamper: Tamper) -> None:
    chain = chain_of(scenario_app)
    head = chain.chain_head()
    assert head is not None
    anchor = Anchor.of(head, T0)
    _edit_state_byte(tamper)
    # ...and recompute every link from P on, so the chain is self-consistent again
    rows = [(e.position, e.originator_id, e.originator_version, e.topic, e.state)
            for e in chain.read_chained(P, 10_000)]
    (before,) = chain.links(P - 1, P - 1)
    for link in extend(before, rows, before.recorded_at_us):
        tamper.sql("UPDATE {ch} SET recorded_at_us = ?, prev_hash = ?, hash = ? "
                   "WHERE notification_id = ?", link.recorded_at_us, link.prev_hash, link.hash,
                   link.position)
    assert verify_chain(chain).ok  # the chain alone can no longer tell
    broken = verify_chain(chain, [anchor]).broken
    assert broken is not None
    assert (broken.kind, broken.position) == (BreakKind.REWRITTEN, head.position)


@pytest.mark.postgres
def test_a_store_written_before_the_chain_is_adopted_once(chained_env: dict[str, str]) -> None:
    module = chained_env["PERSISTENCE_MODULE"]
    old = IncidentApp({**chained_env, "PERSISTENCE_MODULE": PLAIN[module]}, RULES)
    asyncio.run(build(old))
    head = old.recorder.max_notification_id()
    with pytest.raises(UnchainedStoreError):
        chain_of(old)
    old.close()
    app = IncidentApp(chained_env, RULES)
    try:
        adopted = chain_of(app).chain_head()
        assert adopted is not None and adopted.position == head
        app.add_note(next(app.incidents()).id, text="after adoption", by="auditor", at=T0)
        IncidentApp(chained_env, RULES).close()  # a restart does not adopt twice
        result = verify_chain(chain_of(app))
        assert result.ok and result.checked == head + 1
    finally:
        app.close()


@pytest.mark.postgres
def test_two_applications_writing_at_once_keep_one_chain(chained_env: dict[str, str]) -> None:
    apps = [IncidentApp(chained_env, RULES) for _ in range(2)]
    try:
        def write(app: IncidentApp) -> None:
            for _ in range(30):
                app.save(_incident(f"fire:{uuid4()}"))

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(write, apps))
        result = verify_chain(chain_of(apps[0]))
        assert result.ok, result.broken
        assert result.checked == 2 * 30 * 2
    finally:
        for app in apps:
            app.close()


def _incident(key: str) -> Incident:
    inc = Incident(incident_key=key, episode=0, kind="fire", severity=2, site_id="s",
                   location=None, source_ids=["c"], detection_ids=["d"], first_seen_at=T0,
                   last_seen_at=T0, sla_due_at=T0, agencies=[], subject={}, linked_to=None,
                   rule="r", actor="r", timestamp=T0, snapshots=[])
    inc.acknowledge(actor="operator:o", at=T0)
    return inc


@pytest.mark.postgres
def test_a_rolled_back_write_leaves_the_chain_intact(chained_env: dict[str, str]) -> None:
    """On PostgreSQL the refused insert still used up sequence values: a gap the links span."""
    app = IncidentApp(chained_env, RULES)
    try:
        app.save(_incident("fire:a"))
        with pytest.raises(IntegrityError):
            app.save(_incident("fire:a"))  # same id, same versions: refused
        app.save(_incident("fire:b"))
        positions = [e.position for e in chain_of(app).read_chained(1, 100)]
        result = verify_chain(chain_of(app))
        assert result.ok and result.checked == len(positions) == 4, result.broken
        if "POSTGRES_DBNAME" in chained_env:
            assert positions[2] > 3  # the gap
    finally:
        app.close()
