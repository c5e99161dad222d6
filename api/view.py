"""The GraphQL view: authenticates HTTP requests from `Authorization` and WebSocket
connections from `connection_params` in `on_ws_connect` (bad or expired: closed with 4403)."""

from __future__ import annotations

import logging
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api.auth import bearer, verify_token
from api.errors import AuthError, MissingToken
from api.schema import build_schema
from api.schema.broadcast import NextFrames
from api.schema.context import Context, Services

__all__ = ["KuzetGraphQL"]

log = logging.getLogger("kuzet.api")


class KuzetGraphQL(GraphQL[Context, None]):
    """One view for HTTP and WebSocket (graphql-transport-ws only)."""

    def __init__(self, services: Services) -> None:
        super().__init__(
            build_schema(services.config),
            graphql_ide="graphiql" if services.config.dev_mode else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=20,
        )
        self.services = services
        self.frames = NextFrames()

    def encode_json(self, data: object) -> str | bytes:
        """Subscription `next` frames reuse their shared result's JSON (`NextFrames`)."""
        text = self.frames.encode(data)
        return text if text is not None else super().encode_json(data)

    def _verify(self, raw: str | None, ctx: Context) -> None:
        try:
            token = bearer(raw)
            if token is None:
                raise MissingToken
            ctx.principal = verify_token(self.services.config.token_secret, token)
        except AuthError as exc:
            ctx.auth_error = exc

    async def get_context(self, request: Request | WebSocket,
                          response: Response | WebSocket) -> Context:
        ctx = Context(request=request, response=response, services=self.services)
        self._verify(request.headers.get("authorization"), ctx)
        if isinstance(request, WebSocket) or ctx.principal is not None:
            return ctx
        if self.services.config.dev_mode and request.method == "GET":
            return ctx  # GraphiQL page; its queries still need a token
        raise HTTPException(401, str(ctx.auth_error))

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization") \
            or params.get("token")
        if raw is not None or context.principal is None:
            context.principal, context.auth_error = None, None
            self._verify(str(raw) if raw is not None else None, context)
        if context.principal is None:
            log.info("websocket rejected: %s", context.auth_error)
            raise ConnectionRejectionError({"message": str(context.auth_error)})
        return {"role": context.principal.role.value}
