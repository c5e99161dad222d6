"""`create_app(config)`: the Starlette application (GraphQL on HTTP and WebSocket, console)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from api.access import AccessLog
from api.caps import Caps
from api.config import ApiConfig
from api.console import console_routes
from api.evidence import evidence_route
from api.export import access_export
from api.fanout import LogFollower
from api.limits import BodySizeLimit
from api.metrics import track_subscribers
from api.reader import IncidentReader
from api.replay import ReplayPages
from api.revocations import RevocationList
from api.schema.context import Services
from api.sockets import RawSockets
from api.tokens import TokenVerifier
from api.view import KuzetGraphQL
from api.views import ViewReader
from domain.application import IncidentApp
from projections.asof import RecordedLog
from projections.views import View
from projections.views.board import OperatorBoard

__all__ = ["create_app"]


def build_services(config: ApiConfig, app: IncidentApp | None = None,
                   history: RecordedLog | None = None,
                   as_of_views: Sequence[View] = (), search: Any = None) -> Services:
    incidents = app or IncidentApp(dict(config.event_store_env), config.rules)
    follower = LogFollower(incidents, poll_interval_s=config.poll_interval_s,
                           batch=config.poll_batch, queue_size=config.subscriber_queue)
    reader = IncidentReader(incidents)
    views = ViewReader(config.read_model, head=reader.head, max_lag=config.max_view_lag,
                       max_staleness_s=config.max_view_staleness_s,
                       connect_timeout_s=config.connect_timeout_s) if config.read_model else None
    verifier = TokenVerifier(config.keys, config.token_issuer, config.token_audience,
                             config.token_max_ttl_s, config.oidc)
    replay = ReplayPages(incidents, page=config.replay_page,
                         concurrent=config.max_concurrent_replays)
    return Services(config=config, app=incidents, reader=reader,
                    follower=follower, verifier=verifier,
                    revocations=RevocationList(incidents, config.revocation_refresh_s),
                    access=AccessLog(incidents, config.access_flush_s), caps=Caps(config),
                    replay=replay, views=views, history=history,
                    as_of_views={v.name: v for v in (OperatorBoard(), *as_of_views)},
                    search=search)


def create_app(config: ApiConfig, incidents: IncidentApp | None = None,
               history: RecordedLog | None = None,
               as_of_views: Sequence[View] = (), search: Any = None) -> Starlette:
    """The ASGI app; `incidents` may be passed to share one application object. `history`
    (the log with recorded times) enables auditors' time travel (`at:` on the view queries,
    `boardAt`) over `as_of_views` (the board always; the others as the runner configures them)."""
    services = build_services(config, incidents, history, as_of_views, search)
    graphql = KuzetGraphQL(services)
    track_subscribers(lambda: len(services.follower.subscribers))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await services.follower.stop()
            await services.access.stop()
            services.replay.close()
            if services.views is not None:
                await services.views.close()

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True, "subscribers": len(services.follower.subscribers)})

    app = Starlette(routes=[
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        *console_routes(config.timezone, config.districts),
        Route("/healthz", health),
        Route("/audit/personal-data-access", access_export(services)),
        Route("/evidence/{incident_id}/{sha256}", evidence_route(services)),
    ], lifespan=lifespan)
    app.state.services = services
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(RawSockets)  # live frames written as bytes (api.sockets)
    return app
