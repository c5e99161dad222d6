"""The correlator's ledger port (`streams.ledger`), one contract run against every
implementation: in memory, SQLite and PostgreSQL (the event store's datastore)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.application import IncidentApp
from streams.ledger import Ledger, MemoryLedger, ledger_for
from tests.helpers import default_rules

T = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path) -> Iterator[Ledger]:  # type: ignore[no-untyped-def]
    if request.param == "memory":
        yield MemoryLedger()
        return
    if request.param == "sqlite":
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
               "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}
    else:
        from kuzet.settings import postgres_env

        env = postgres_env(request.getfixturevalue("postgres_url"))
    app = IncidentApp(env, default_rules())
    yield ledger_for(app)
    app.close()


def test_the_first_digest_wins_and_only_other_content_conflicts(ledger: Ledger) -> None:
    assert ledger.admit([("a", "1", T), ("b", "2", T)]) == set()
    assert ledger.admit([("a", "1", T)]) == set()  # a redelivery
    assert ledger.admit([("a", "9", T), ("b", "2", T), ("c", "3", T)]) == {("a", "9")}
    # within one batch: the first content of a new id wins, the same content again is fine
    assert ledger.admit([("d", "4", T), ("d", "4", T), ("d", "5", T)]) == {("d", "5")}
    assert ledger.admit([("d", "4", T)]) == set()


def test_a_batch_larger_than_a_chunk_is_admitted_whole(ledger: Ledger) -> None:
    rows = [(f"id-{i}", f"g-{i}", T) for i in range(1200)]
    assert ledger.admit(rows) == set()
    assert ledger.admit([(f"id-{i}", "other", T) for i in range(0, 1200, 100)]) == {
        (f"id-{i}", "other") for i in range(0, 1200, 100)}


def test_candidate_hits_are_kept_per_key_until_dropped(ledger: Ledger) -> None:
    ledger.write_hits([("k1", "a", b'{"a":1}', T), ("k1", "b", b'{"b":1}', T - timedelta(1)),
                       ("k2", "c", b"{}", T)], [])
    ledger.write_hits([("k1", "a", b'{"a":1}', T)], [])  # written again: no duplicate
    hits = ledger.hits(["k1", "k2", "k3"])
    assert set(hits) == {"k1", "k2"}
    assert sorted(r for r, _ in hits["k1"]) == [b'{"a":1}', b'{"b":1}']
    ledger.write_hits([], [("k1", "a"), ("k2", "c")])
    assert {k: [r for r, _ in v] for k, v in ledger.hits(["k1", "k2"]).items()} == {
        "k1": [b'{"b":1}']}


def test_prune_forgets_what_was_observed_before_the_cut(ledger: Ledger) -> None:
    old, new = T - timedelta(days=9), T
    ledger.admit([("old", "1", old), ("new", "2", new)])
    ledger.write_hits([("k", "old", b"o", old), ("k", "new", b"n", new)], [])
    ledger.prune(T - timedelta(days=8))
    assert [r for r, _ in ledger.hits(["k"])["k"]] == [b"n"]
    assert ledger.admit([("old", "other", T)]) == set()  # forgotten: a new id again
    assert ledger.admit([("new", "other", T)]) == {("new", "other")}
