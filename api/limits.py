"""Size limits (pure ASGI middleware): HTTP bodies over the limit get 413 with a JSON error,
never a hang; WebSocket messages over the same limit close the socket with 1009 (message too
big) before the application sees them."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodySizeLimit"]


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuses HTTP bodies over `max_bytes`, by Content-Length or while streaming, and
    WebSocket messages over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.app(scope, self._messages(receive, send), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    def _messages(self, receive: Receive, send: Send) -> Receive:
        async def limited() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                data = message.get("text") or message.get("bytes") or ""
                if len(data) > self.max_bytes:  # characters: at most 4 bytes each, checked
                    size = len(data.encode() if isinstance(data, str) else data)
                    if size > self.max_bytes:
                        await send({"type": "websocket.close", "code": 1009,
                                    "reason": f"message larger than {self.max_bytes} bytes"})
                        return {"type": "websocket.disconnect", "code": 1009}
            return message
        return limited

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"errors": [{"message": f"request body larger than "
                                                  f"{self.max_bytes} bytes"}]}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
