"""Subscription frames written to the socket as bytes, the same bytes for a whole audience.

A live `next` message differs between subscribers of one audience and selection only by its
operation id, and clients mostly use the same few ids: its WebSocket frame (header + JSON) is
built once per event, audience, selection and id, and written as it is to every socket that
takes it, several frames in one write when a subscriber has several updates waiting.

Writing bytes needs the server's connection: `RawSockets` (an ASGI middleware) keeps the
server's own `send` in the scope, and `RawSocket.of` recognises uvicorn's sans-I/O WebSocket
protocol behind it (`kuzet api` runs `ws="websockets-sansio"`). Anything else — another
server or protocol implementation, a negotiated extension such as permessage-deflate, a socket
closing, or holding `MAX_BUFFERED` bytes the client has not taken yet — is not raw-writable,
and the subscription sends through the ASGI path as before (which waits for the client, so its
bounded queue fills and the slow-consumer policy applies). `bind_operation` records, per
operation task, the graphql-transport-ws operation id that the frames carry.
"""

from __future__ import annotations

import struct
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.protocol import State
from websockets.server import ServerProtocol

__all__ = ["RawSocket", "RawSockets", "bind_operation", "current_operation", "text_frame"]

_SCOPE_KEY = "kuzet.server_send"
MAX_BUFFERED = 1 << 20
"""Bytes a socket may hold unsent before frames go the ASGI way (which waits for the client):
above uvicorn's flow-control mark (64 KiB), so a burst of frames is one write, yet bounded."""
_OPERATION: ContextVar[str | None] = ContextVar("kuzet_ws_operation", default=None)


def bind_operation(operation_id: str) -> None:
    """Called in an operation's task: the id its subscription frames carry."""
    _OPERATION.set(operation_id)


def current_operation() -> str | None:
    """The graphql-transport-ws operation id of the running task (None outside one)."""
    return _OPERATION.get()


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame (server to client, RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class RawSockets:
    """Keeps the server's `send` of each WebSocket connection in its scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[_SCOPE_KEY] = send
        await self.app(scope, receive, send)


class RawSocket:
    """A WebSocket connection of uvicorn's sans-I/O protocol, written to as bytes."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    @classmethod
    def of(cls, scope: Any) -> RawSocket | None:
        """The connection behind `scope`, if its server's protocol is one this writes to."""
        send = scope.get(_SCOPE_KEY) if isinstance(scope, dict) else None
        protocol = getattr(send, "__self__", None)
        if not isinstance(getattr(protocol, "conn", None), ServerProtocol) or not all(
                hasattr(protocol, a) for a in ("transport", "close_sent")):
            return None
        return cls(protocol)

    @property
    def open(self) -> bool:
        """Frames may be written: open, no extension in use, not closing."""
        p = self._protocol
        return (p.conn.state is State.OPEN and not p.conn.extensions and not p.close_sent
                and not p.transport.is_closing())

    @property
    def ready(self) -> bool:
        """Open and holding less than `MAX_BUFFERED` unsent bytes (the client keeps up)."""
        return self.open and self._protocol.transport.get_write_buffer_size() < MAX_BUFFERED

    def write(self, frames: list[bytes]) -> bool:
        """Writes whole frames in one go; False (nothing written) when no longer open."""
        if not self.open:
            return False
        self._protocol.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        return True
