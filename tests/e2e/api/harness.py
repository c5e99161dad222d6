"""A real API server (uvicorn in a thread, free port) on a real store, and small clients."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
import websockets

from api import ApiConfig, Role, create_app, issue_token
from domain.application import IncidentApp
from domain.log import LogReader
from domain.routing import SiteDirectory
from kuzet.broker import free_port
from projections import ProjectionRunner, SqliteStore, all_views
from projections.postgres_store import PostgresStore
from projections.store import ViewStore
from streams.engine import CorrelationEngine
from tests.helpers import default_rules, det

SECRET = "test-secret-0123456789abcdef"
RULES = default_rules()
CANTEEN_MIN_K = 5


@dataclass
class Server:
    url: str
    app: IncidentApp
    starlette: Any
    read_model: str | None = None
    sites: SiteDirectory = field(default_factory=lambda: SiteDirectory({}))

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    def token(self, role: str = "operator", agency: str | None = None, ttl: int = 600,
              subject: str = "op-1") -> str:
        return issue_token(SECRET, subject=subject, role=Role(role), agency=agency, ttl_s=ttl)

    def gql(self, query: str, variables: dict[str, Any] | None = None, *,
            token: str | None = None, role: str = "operator") -> dict[str, Any]:
        tok = token if token is not None else self.token(role)
        r = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                       headers={"Authorization": f"Bearer {tok}"}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    @property
    def subscribers(self) -> int:
        return len(self.starlette.state.services.follower.subscribers)

    def catch_up(self) -> int:
        """Runs the real projection runner over this server's store into its read model
        (what `kuzet projections run` does beside the API); returns the events it read."""
        assert self.read_model is not None, "this server has no read model"
        location = self.read_model

        async def run() -> int:
            store: ViewStore = (await PostgresStore.connect(location)
                                if location.startswith("postgresql://")
                                else SqliteStore(location))
            runner = ProjectionRunner(LogReader(self.app), store,
                                      all_views(self.sites, CANTEEN_MIN_K))
            try:
                await runner.setup()
                return await runner.catch_up()
            finally:
                await store.close()

        return asyncio.run(run())


def _history(incidents: IncidentApp) -> Any:
    """The log with recorded times where the store keeps the audit chain (for `boardAt`)."""
    from eventstore.links import ChainError
    from eventstore.log import ChainedLog

    try:
        return ChainedLog(incidents)
    except ChainError:
        return None


@contextmanager
def running_server(env: dict[str, str], *, sites: SiteDirectory | None = None,
                   **overrides: Any) -> Iterator[Server]:
    """`overrides` are `ApiConfig` fields (e.g. `read_model`: where agency views are read)."""
    incidents = IncidentApp(env, RULES)
    config = ApiConfig(event_store_env=env, rules=RULES, token_secret=SECRET,
                       poll_interval_s=0.02, **overrides)
    starlette = create_app(config, incidents, _history(incidents),
                           all_views(sites or SiteDirectory({}), CANTEEN_MIN_K))
    with serving(starlette) as url:
        yield Server(url, incidents, starlette, overrides.get("read_model"),
                     sites or SiteDirectory({}))


@contextmanager
def serving(starlette: Any) -> Iterator[str]:
    """`starlette` under uvicorn on a free loopback port, as `kuzet api` runs it; yields its
    base URL once the server has started, stops it afterwards."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(starlette, host="127.0.0.1", port=port,
                                           log_level="warning", ws="websockets-sansio",
                                           ws_per_message_deflate=False,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:  # uvicorn's own flag: the socket is bound and listening
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def open_incident(app: IncidentApp, kind: str = "weapon", *, site: str | None = None,
                  **extra: Any) -> uuid.UUID:
    """Opens one new incident through the real correlation engine; returns its id."""
    now = datetime.now(UTC)
    source = f"cam-{uuid.uuid4().hex[:8]}"
    engine: CorrelationEngine[str] = CorrelationEngine(app, RULES)
    dets = [det(kind, source=source, site=site or source, conf=0.95, at=now,
                seconds=-i, **extra) for i in range(3)]

    async def run() -> None:
        await engine.process(0, [(d, d.detection_id) for d in dets], now)
        await engine.drain(now + timedelta(seconds=1))

    asyncio.run(run())
    opened = [i for i in app.incidents() if source in i.sources]
    assert len(opened) == 1, opened
    return opened[0].id


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Waits up to 10 s for `predicate`; fails naming `what`."""
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


class Subscription:
    """A graphql-transport-ws client for one subscription."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, ws_url: str, token: str, query: str,
                   variables: dict[str, Any] | None = None) -> Subscription:
        ws = await websockets.connect(ws_url, subprotocols=["graphql-transport-ws"])
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"authorization": f"Bearer {token}"}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": query, "variables": variables or {}}}))
        return cls(ws)

    async def next(self, timeout: float = 20) -> dict[str, Any]:
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if msg["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            assert msg["type"] == "next", msg
            assert "errors" not in msg["payload"], msg
            return msg["payload"]["data"]  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.ws.close()
