"""The GraphQL view: authentication, per-connection checks, caps, and malformed input.

HTTP requests authenticate from `Authorization`; WebSocket connections from
`connection_params` in `on_ws_connect` (bad, expired or revoked: closed with 4403). A socket's
token is re-checked on every operation it sends and by a watchdog that closes the socket with
4403 the moment the token expires or, within `revocation_refresh_s`, is revoked. Sockets count
against per-address caps (refused at the handshake) and per-principal caps (closed with 4429).
Every malformed request is a 4xx (HTTP) or a 4400 close (WebSocket) with a clear reason: a body
that is not a JSON object, invalid UTF-8, JSON nested too deeply, a message of the wrong shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, cast

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message

from api.auth import Principal, bearer
from api.errors import AuthError, MissingToken, TooMany
from api.schema import build_schema
from api.schema.broadcast import NextFrames
from api.schema.context import Context, Services
from api.sockets import bind_operation

__all__ = ["KuzetGraphQL"]

log = logging.getLogger("kuzet.api")
_MAX_JSON_DEPTH = 64
"""Deepest JSON nesting accepted in a request body or WebSocket message."""


def _json_depth_ok(text: str) -> bool:
    """Cheap check that brackets never nest deeper than `_MAX_JSON_DEPTH` (strings skipped)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > _MAX_JSON_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def decode_object(data: str | bytes) -> dict[str, Any]:
    """A JSON object from a body; `ValueError` naming what is wrong otherwise."""
    value = decode_value(data)
    if not isinstance(value, dict):
        raise ValueError(f"the body must be a JSON object, not {type(value).__name__}")
    return value


def decode_value(data: str | bytes) -> Any:
    """A JSON value, refused (`ValueError` naming why) when not UTF-8, not JSON or too deep."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the body is not valid UTF-8") from None
    if not _json_depth_ok(data):
        raise ValueError(f"JSON nested deeper than {_MAX_JSON_DEPTH} levels")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError("the body is not valid JSON") from None


class _Handler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the principal re-checked on every operation, caps on
    connections, and messages of the wrong shape closing the socket with 4400."""

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.handle_invalid_message("a message must be an object with a `type`")
            return
        if message["type"] == "subscribe":
            payload = message.get("payload")
            if (not isinstance(message.get("id"), str) or not isinstance(payload, dict)
                    or not isinstance(payload.get("query"), str)
                    or not isinstance(payload.get("variables") or {}, dict)):
                await self.handle_invalid_message(
                    "subscribe needs a string `id` and a payload with a string `query` and "
                    "object `variables`")
                return
            if self.connection_acknowledged and not await self._still_valid():
                return
        await super().handle_message(cast("Message", message))

    async def _still_valid(self) -> bool:
        try:
            await self.context.services.revocations.refresh()
            self.context.check()
        except AuthError as exc:
            await self.websocket.close(code=4403, reason=str(exc))
            return False
        return True

    async def run_operation(self, operation: Any) -> None:
        """Each operation waits for a start turn (`Services.starts`, released by its lease)."""
        await self.context.services.starts.enter()
        bind_operation(operation.id)  # the id live frames carry (api.sockets)
        await super().run_operation(operation)

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except TooMany as exc:
            await self.websocket.close(code=4429, reason=str(exc))


class KuzetGraphQL(GraphQL[Context, None]):
    """One view for HTTP and WebSocket (graphql-transport-ws only)."""

    graphql_transport_ws_handler_class = _Handler

    def __init__(self, services: Services) -> None:
        super().__init__(
            build_schema(services.config),
            graphql_ide="graphiql" if services.config.dev_mode else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=services.config.max_subscriptions_per_connection,
        )
        self.services = services
        self.frames = NextFrames()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else "?"
        caps = self.services.caps
        if not caps.take_address(address):
            log.info("websocket refused: %s has %d connections", address,
                     caps.addresses[address])
            await send({"type": "websocket.close", "code": 4429,
                        "reason": "too many connections from this address"})
            return
        scope.setdefault("state", {})["kuzet"] = connection = _Connection()
        try:
            await super().__call__(scope, receive, send)
        finally:
            caps.give_address(address)
            connection.end(caps)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return decode_object(data)
        except ValueError as exc:
            raise HTTPException(400, f"Unable to parse request body: {exc}") from None

    def decode_json(self, data: str | bytes) -> object:
        """WebSocket messages: a malformed one closes the socket with 4400 (via the handler)."""
        try:
            return decode_value(data)
        except ValueError as exc:
            raise json.JSONDecodeError(str(exc), "", 0) from None

    def encode_json(self, data: object) -> str | bytes:
        """Subscription `next` frames reuse their shared result's JSON (`NextFrames`)."""
        text = self.frames.encode(data)
        return text if text is not None else super().encode_json(data)

    async def _verify(self, raw: str | None, ctx: Context) -> None:
        try:
            token = bearer(raw)
            if token is None:
                raise MissingToken
            verifier = self.services.verifier
            if verifier.is_external(token):  # fetching the provider's keys blocks
                ctx.principal = await asyncio.to_thread(verifier.verify, token)
            else:
                ctx.principal = verifier.verify(token)
            await self.services.revocations.refresh()
            ctx.check()
        except AuthError as exc:
            ctx.principal, ctx.auth_error = None, exc

    async def get_context(self, request: Request | WebSocket,
                          response: Response | WebSocket) -> Context:
        ctx = Context(request=request, response=response, services=self.services)
        await self._verify(request.headers.get("authorization"), ctx)
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
            await self._verify(str(raw) if raw is not None else None, context)
        who = context.principal
        if who is None:
            log.info("websocket rejected: %s", context.auth_error)
            raise ConnectionRejectionError({"message": str(context.auth_error)})
        connection: _Connection = context.request.scope["state"]["kuzet"]
        self.services.caps.take_principal(who)  # TooMany: closed with 4429 by the handler
        connection.start(who, context)
        return {"role": who.role.value}


class _Connection:
    """One socket's principal and its watchdog (closes with 4403 on expiry or revocation)."""

    def __init__(self) -> None:
        self.principal: Principal | None = None
        self.watchdog: asyncio.Task[None] | None = None

    def start(self, who: Principal, context: Context) -> None:
        self.principal = who
        self.watchdog = asyncio.create_task(_watch(context), name="kuzet-ws-watchdog")

    def end(self, caps: Any) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self.principal is not None:
            caps.give_principal(self.principal)


async def _watch(context: Context) -> None:
    services = context.services
    while True:
        who = context.principal
        if who is None:
            return
        left = who.expires_at - time.time()
        await asyncio.sleep(max(0.0, min(left, services.config.revocation_refresh_s)))
        try:
            await services.revocations.refresh()
            context.check()
        except AuthError as exc:
            log.info("websocket closed: %s", exc)
            with contextlib.suppress(Exception):
                await context.request.close(code=4403, reason=str(exc))
            return
