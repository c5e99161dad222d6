"""`FastLogReader` equals `LogReader` (the reference) on real stores, SQLite and PostgreSQL.

The projections' scenario (incidents, evidence, operator commands, a wanted face, a plate with
an operator's note naming it, canteen tallies) runs through the real correlator into the
production event store (hash chain, personal values sealed), then a plate is shredded and the
incident gets one more note. Before and after, every event the fast reader gives (paged or
not, opened or in stored form, one aggregate's history) equals the reference's, and it
took the fast path for every one. Odd stored states (written with plain recorder calls, as
another writer might have) and compressed or encrypted stores go the reference way and still
come out equal.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import Awaitable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from typer.testing import CliRunner

from audit.retention import shred_subject
from domain.application import IncidentApp
from domain.log import LogEvent, LogReader
from domain.privacy import SHREDDED, is_sealed
from eventstore.fastlog import FastLogReader
from eventstore.fastrows import page_reader
from eventstore.sealing import SealedLogReader
from kuzet.commands import projections as projection_commands
from kuzet.settings import CHAINED_SQLITE, load_settings, postgres_env
from projections import ProjectionRunner, SqliteStore, all_views
from tests.integration.privacy.conftest import PEPPER, keystore_of
from tests.integration.projections.scenario import NOW, RULES, build
from tests.integration.projections.scenario import SITES as SCENARIO_SITES

PLATE = "A 123 BC 02"
T = "2026-11-26T12:00:00+00:00"


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The production store's env (chained, sealing on): a SQLite file or a fresh database."""
    privacy = {"PRIVACY_PEPPER": PEPPER, "PRIVACY_KEY_CACHE_S": "5"}
    if request.param == "sqlite":
        return {"PERSISTENCE_MODULE": CHAINED_SQLITE,
                "SQLITE_DBNAME": str(tmp_path / "events.sqlite"), **privacy}
    return {**postgres_env(request.getfixturevalue("postgres_url")), **privacy}


def _same(app: Any, *, fast_path: bool = True) -> list[LogEvent]:
    """Assert every way of reading the log fast equals the reference; returns the events."""
    reference = LogReader(app)
    head = reference.head()
    expected = reference.read(1, head + 5)
    reader = FastLogReader(app)
    assert [e.position for e in expected] == list(range(1, head + 1))
    assert reader.head() == head
    assert reader.read(1, head + 5) == expected
    assert [e for s in range(1, head + 1, 7) for e in reader.read(s, 7)] == expected
    assert reader.read(head + 1, 10) == []
    stored = FastLogReader(app, stored_form=True)
    assert stored.read(1, head + 5) == SealedLogReader(app).read(1, head + 5)
    for oid in {e.originator_id for e in expected}:
        assert reader.events_of(oid, 10**6) == reference.events_of(oid, 10**6)
        assert reader.events_of(oid, 2) == reference.events_of(oid, 2)
    assert reader.fast is fast_path and stored.fast is fast_path
    if fast_path:
        assert reader.fell_back == 0 and stored.fell_back == 0
    return expected


def _texts(events: list[LogEvent]) -> str:
    return json.dumps([e.data for e in events], default=str)


async def test_equal_on_a_sealed_store_before_and_after_a_shred(env: dict[str, str]) -> None:
    app = IncidentApp(env, RULES)
    try:
        ids = await build(app)
        before = _same(app)
        assert PLATE in _texts(before)
        assert any(is_sealed(v) for e in FastLogReader(app, stored_form=True).read(1, 500)
                   for v in e.data.get("subject", {}).values())

        plate_id = ids["plate_match:plate=A123BC02"]
        assert shred_subject(app, keystore_of(app), "plate:A123BC02", reason="request 5/2026",
                             actor="operator:dpo", at=NOW) is not None
        app.add_note(plate_id, text="after the shred", by="op-2", at=NOW)
        after = _same(app)
        assert PLATE not in _texts(after) and SHREDDED in _texts(after)
        assert {"PersonalDataShredded", "PersonalDataErased"} <= {e.name for e in after}
        assert "after the shred" in _texts(after)
    finally:
        app.close()
    other = IncidentApp(env, RULES)  # another process: its own key store and caches
    try:
        assert PLATE not in _texts(_same(other))
    finally:
        other.close()


async def test_equal_on_a_store_without_sealing(env: dict[str, str]) -> None:
    plain = {k: v for k, v in env.items() if not k.startswith("PRIVACY_")}
    app = IncidentApp(plain, RULES)
    try:
        await build(app)
        assert PLATE in _texts(_same(app))
        assert page_reader(app.recorder).func.__name__ in {"_sqlite_rows", "_postgres_rows"}
    finally:
        app.close()


async def test_equal_on_a_recorder_read_through_select_notifications() -> None:
    """eventsourcing's in-memory recorder: no SQL to run, so rows come from the recorder."""
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.popo"}, RULES)
    try:
        await build(app)
        assert PLATE in _texts(_same(app))
        assert page_reader(app.recorder).func.__name__ == "_recorder_rows"
    finally:
        app.close()


class Thing(Aggregate):
    """A test aggregate whose event was upcast: stored v1 states must go through the mapper."""

    class Noted(Aggregate.Event):
        class_version = 2
        text: str
        level: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["level"] = 0


def _state(fields: str) -> bytes:
    return (b'{"timestamp":{"_type_":"datetime_iso","_data_":"%s"}%s}'
            % (T.encode(), fields.encode()))


ODD = {
    "Incident.NoteAdded": [  # (state, goes the reference way)
        (_state(',"text":"n","actor":"a","count":123456789012345678901234567890'), True),
        (_state(',"text":"n","actor":"a","level":-Infinity'), True),
        (_state(',"text":"\\u005ftype_","at":{"_type_":"uuid_hex","_data_":"' + uuid.uuid4().hex
                + '"},"amount":{"_type_":"decimal_str","_data_":"1.50"}'), False),
        (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T12:00:00Z"},"text":"z"}',
         False),
    ],
    "Thing.Noted": [(_state(',"text":"old"'), True)],
}


def _topic(name: str) -> str:
    return (f"{__name__}:{name}" if name.startswith("Thing")
            else f"domain.incident:{name}")


@pytest.mark.parametrize("mapper_env", [
    {}, {"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"},
    {"CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
     "CIPHER_KEY": base64.b64encode(os.urandom(16)).decode()},
], ids=["plain", "compressed", "encrypted"])
async def test_odd_states_and_other_mappers_go_the_reference_way(
        env: dict[str, str], mapper_env: dict[str, str]) -> None:
    app = IncidentApp({**env, **mapper_env}, RULES)
    try:
        await build(app)
        if mapper_env:
            assert PLATE in _texts(_same(app, fast_path=False))
            return
        rows = [(name, s, slow) for name, found in ODD.items() for s, slow in found]
        app.recorder.insert_events([
            StoredEvent(uuid.uuid4(), 1, _topic(name), s) for name, s, _ in rows])
        _odd(app, rows)
    finally:
        app.close()


def _odd(app: IncidentApp, rows: list[tuple[str, bytes, bool]]) -> None:
    """The page with the odd rows equals the reference; exactly the flagged rows fell back."""
    reference = LogReader(app)
    head = reference.head()
    reader = FastLogReader(app)
    expected = reference.read(1, head)
    assert reader.read(1, head) == expected
    assert reader.fell_back == sum(slow for _, _, slow in rows)
    odd = expected[-len(rows):]
    assert odd[0].data["count"] == 123456789012345678901234567890
    assert odd[2].data["amount"] == Decimal("1.50") and odd[2].data["text"] == "_type_"
    assert odd[3].timestamp == T
    assert (odd[4].aggregate, odd[4].name, odd[4].data) == ("Thing", "Noted",
                                                           {"text": "old", "level": 0})


def test_the_cli_rebuilds_views_through_the_fast_reader_as_the_reference_would(
        tmp_path: Path) -> None:
    """`kuzet projections rebuild|verify` as `kuzet.cli` registers them; the rebuilt views
    equal a rebuild from `LogReader` into another store."""
    env = {"KUZET_DATA_DIR": str(tmp_path / "data"), "KUZET_SITES_PATH": str(SITES),
           "KUZET_PRIVACY_PEPPER": PEPPER}
    settings = load_settings(environ=env)
    app = IncidentApp(settings.event_store_env(), RULES)
    try:
        asyncio.run(build(app))
        cli = typer.Typer()
        projection_commands.register(cli)
        for name in VIEWS:
            done = CliRunner().invoke(cli, ["projections", "rebuild", name], env=env)
            assert done.exit_code == 0 and f"rebuilt {name}" in done.output, done.output
        verified = CliRunner().invoke(cli, ["projections", "verify", "police"], env=env)
        assert verified.exit_code == 0 and "equal" in verified.output
        assert asyncio.run(_rows(projection_commands.build_runner(settings), FastLogReader)
                           ) == asyncio.run(_rows(_reference_runner(app, tmp_path), LogReader))
    finally:
        app.close()


VIEWS = ("board", "police", "zhkkh", "education")
SITES = Path(__file__).parents[3] / "examples" / "sites.toml"


async def _reference_runner(app: IncidentApp, tmp_path: Path) -> ProjectionRunner:
    runner = ProjectionRunner(LogReader(app), SqliteStore(tmp_path / "reference.sqlite"),
                              all_views(SCENARIO_SITES, load_settings(environ={}).canteen_min_k))
    await runner.setup()
    for name in VIEWS:
        await runner.rebuild(name)
    return runner


async def _rows(made: Awaitable[ProjectionRunner], source: type) -> dict[str, Any]:
    runner = await made
    try:
        assert type(runner.source) is source
        return {name: await runner.rows(name) for name in VIEWS}
    finally:
        await runner.store.close()
