"""Crypto-shredding end to end, on SQLite and PostgreSQL, with the real broker.

The projections' scenario (a wanted subject W-1042, plate A 123 BC 02 with an operator's note
naming it, a snapshot) runs through the real correlator into the production event store
(hash chain + sealing). Before a shred the police read the plate (application, police view,
their topic opened with the key) and nobody else does; no table ever holds it. After
`shred_subject("plate:A123BC02")` no byte of it is readable in any table, the SQLite files,
any view, any relayed topic or an audit export, while the chain verifies, every view rebuilds
to what the live view shows, and an export replays to the live views.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from audit.chain import verify_chain
from audit.export import Selection, export
from audit.replay import replay_export
from audit.retention import shred_subject
from domain.application import IncidentApp
from domain.kinds import Agency
from domain.log import LogReader
from domain.privacy import SHREDDED, is_sealed
from domain.topics import INCIDENT_EVENTS, agency_topic
from eventstore.log import chain_of
from eventstore.sealing import SealedLogReader, Sealer
from kuzet.kafka import ensure_topics, read_topic
from projections import ProjectionRunner, SqliteStore, all_views
from projections.postgres_store import PostgresStore
from projections.store import ViewStore
from streams.relay import AiokafkaPublisher, FilePosition, Relay, RelayConfig
from tests.integration.privacy.conftest import found, keystore_of, raw_files, stored_values
from tests.integration.projections.scenario import NOW, SITES, build

pytestmark = [pytest.mark.broker]

PLATE = ("A123BC02", "A 123 BC 02", "123 BC")
FACE = ("W-1042",)
TOPICS = [INCIDENT_EVENTS, *(agency_topic(a) for a in Agency)]


async def _view_store(env: dict[str, str], request: pytest.FixtureRequest,
                      tmp_path: Path) -> ViewStore:
    if "SQLITE_DBNAME" in env:
        return SqliteStore(tmp_path / "views.sqlite")
    return await PostgresStore.connect(request.getfixturevalue("postgres_url"))


class Published:
    """The relay (stored form) onto suffixed topics of the session broker, and their contents."""

    def __init__(self, app: IncidentApp, bootstrap: str, tmp_path: Path) -> None:
        self.app, self.bootstrap = app, bootstrap
        self.suffix = f".privacy-{uuid.uuid4().hex[:8]}"
        self.position = FilePosition(tmp_path / "relay.json")

    async def relay(self) -> None:
        await ensure_topics(self.bootstrap, [t + self.suffix for t in TOPICS], 2)
        publisher = AiokafkaPublisher(self.bootstrap)
        await publisher.start()
        try:
            reader = SealedLogReader(self.app)
            relay = Relay(reader, reader, publisher, self.position,
                          RelayConfig(topic_suffix=self.suffix))
            while await relay.step():
                pass
        finally:
            await publisher.stop()

    async def values(self, topic: str) -> list[bytes]:
        return await read_topic(self.bootstrap, topic + self.suffix)

    async def everything(self) -> bytes:
        return b"\n".join([v for t in TOPICS for v in await self.values(t)])


def _opened(values: list[bytes], kind: str) -> dict[str, Any]:
    events = [json.loads(v) for v in values]
    return next(e for e in events if e["type"] == "kuzet.incident.opened.v1"
                and e["data"]["kind"] == kind)


def _export(app: IncidentApp) -> list[str]:
    out = io.StringIO()
    export(chain_of(app), out, Selection(), datetime.now(UTC))
    return out.getvalue().splitlines()


def _decoded(lines: list[str]) -> bytes:
    """The export with each event's stored state decoded from base64 (what it really holds)."""
    parts = [line.encode() for line in lines]
    parts += [base64.b64decode(json.loads(line)["state"]) for line in lines
              if json.loads(line)["type"] == "event"]
    return b"\n".join(parts)


async def test_after_a_shred_no_plaintext_remains_anywhere(
        sealed_env: dict[str, str], sealed_app: IncidentApp, broker: Any, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    app, keys = sealed_app, keystore_of(sealed_app)
    ids = await build(app)
    plate_id, face_id = ids["plate_match:plate=A123BC02"], ids["face_match:subject=W-1042"]
    runner = ProjectionRunner(LogReader(app), await _view_store(sealed_env, request, tmp_path),
                              all_views(SITES, 5))
    await runner.setup()
    published = Published(app, broker.bootstrap_servers, tmp_path)
    try:
        await runner.catch_up()
        await published.relay()
        await _before(app, keys, runner, published, sealed_env, plate_id)
        view_files = sorted(tmp_path.glob("views.sqlite*"))  # SQLite view store, with its WAL
        assert not view_files or [f for f in view_files if found(PLATE, f.read_bytes())]

        done = shred_subject(app, keys, "plate:a123 bc02", reason="erasure request 17/2026",
                             actor="operator:dpo", at=NOW)
        assert done is not None and set(done.incidents) == {str(plate_id)}
        assert sorted(done.keys.values()) == ["free_text", "plate"]  # no snapshot was stored
        await runner.catch_up()
        await published.relay()

        await _nothing_readable(app, runner, published, sealed_env)
        assert not [f for f in view_files if found(PLATE, f.read_bytes())]  # WAL included
        assert app.incident(plate_id).subject == {"plate": SHREDDED}
        notes = [e for e in app.history(plate_id) if type(e).__name__ == "NoteAdded"]
        assert [n.text for n in notes] == [SHREDDED]
        assert app.incident(face_id).subject == {"subject_id": "W-1042"}  # no collateral
        await _history_still_holds(app, runner)
    finally:
        await runner.store.close()


async def _before(app: IncidentApp, keys: Any, runner: ProjectionRunner, published: Published,
                  env: dict[str, str], plate_id: Any) -> None:
    """Police read the plate; no event store table or file and no topic holds it; the
    situation centre sees a pseudonym derived from the key id."""
    assert app.incident(plate_id).subject == {"plate": "A 123 BC 02"}
    police = (await runner.rows("police"))[str(plate_id)]
    assert police["subject"] == {"plate": "A 123 BC 02"}
    in_store = [t for t, v in stored_values(env) if found(PLATE + FACE, v)]
    assert set(in_store) <= {"proj_police"}  # on PostgreSQL the views share the database
    assert not [f for f in raw_files(env) if found(PLATE + FACE, f.read_bytes())]
    assert not found(PLATE + FACE, await published.everything())
    sealed = _opened(await published.values(agency_topic(Agency.POLICE)), "plate_match")
    assert is_sealed(sealed["data"]["subject"]["plate"])
    assert Sealer(keys).open(sealed["data"]["subject"]["plate"]) == "A 123 BC 02"
    centre = _opened(await published.values(agency_topic(Agency.SITUATION_CENTRE)),
                     "plate_match")
    assert centre["data"]["subject"].startswith("masked:")


async def _nothing_readable(app: IncidentApp, runner: ProjectionRunner, published: Published,
                            env: dict[str, str]) -> None:
    keys = keystore_of(app)
    assert not [t for t, v in stored_values(env) if found(PLATE, v)]
    assert not [f for f in raw_files(env) if found(PLATE, f.read_bytes())]
    for name in runner.views:
        assert not found(PLATE, json.dumps(await runner.rows(name)).encode()), name
    police = (await runner.rows("police"))
    assert {json.dumps(r["subject"]) for r in police.values()} >= {'{"plate": "[shredded]"}'}
    assert not found(PLATE, await published.everything())
    sealed = _opened(await published.values(agency_topic(Agency.POLICE)), "plate_match")
    assert Sealer(keys).open(sealed["data"]["subject"]["plate"]) == SHREDDED
    assert not found(PLATE, _decoded(_export(app)))


async def _history_still_holds(app: IncidentApp, runner: ProjectionRunner) -> None:
    """The chain verifies, each view rebuilds to the live one, an export replays to it."""
    assert verify_chain(chain_of(app)).ok
    for name in runner.views:
        verified = await runner.verify(name)
        assert verified.equal, name
        live = await runner.rows(name)
        await runner.rebuild(name)
        assert await runner.rows(name) == live, name
    replayed = await replay_export(_export(app), app, list(runner.views.values()))
    assert replayed.equal, [v for v in replayed.views if not v.equal]
