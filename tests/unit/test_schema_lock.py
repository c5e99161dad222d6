"""Every package that creates tables on PostgreSQL takes the same advisory lock (packages may
not import each other, so each spells it; this keeps the spellings equal), and `kuzet db
migrate` covers every read model the runner keeps."""

from __future__ import annotations

from adapters.state_postgres import SCHEMA_LOCK as ADAPTERS
from domain.routing import SiteDirectory
from eventstore.keystore import _SCHEMA_LOCK as KEYS
from eventstore.positions import SCHEMA_LOCK as POSITIONS
from eventstore.store_postgres import SCHEMA_LOCK as EVENTS
from kuzet.schema import SCHEMA_LOCK as MIGRATE
from kuzet.schema import view_names
from projections import all_views
from projections.store import SCHEMA_LOCK as VIEWS
from streams.ledger import _SCHEMA_LOCK as LEDGER


def test_one_lock_for_every_store() -> None:
    assert {ADAPTERS, KEYS, EVENTS, LEDGER, MIGRATE, POSITIONS, VIEWS} == {
        "SELECT pg_advisory_xact_lock(hashtext('kuzet.schema'))"}


def test_migrate_covers_every_view() -> None:
    assert sorted(view_names()) == sorted(v.name for v in all_views(SiteDirectory({}), 5))
    assert {"board", "police", "zhkkh", "education"} <= set(view_names())
