"""A real HTTP receiver on a free port that misbehaves at random, like an agency's endpoint.

An asyncio server in a background thread speaking just enough HTTP/1.1 for a webhook
(Content-Length bodies, `Connection: close`), so it can do what a framework would not let it:
drop the connection without an answer. Per request, by a seeded draw: answer 500, answer 429,
drop the connection before storing, store then drop (the sender never learns it arrived), store
then stall past the sender's timeout, or store and answer 200. It verifies every signature with
the adapter's public key (401 if wrong) and refuses any body containing "poison" with a 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.errors import SignatureError
from adapters.signing import verify


@dataclass
class Chaos:
    p_500: float = 0.0
    p_429: float = 0.0
    p_drop: float = 0.0
    p_store_drop: float = 0.0
    p_stall: float = 0.0
    stall_s: float = 0.0
    delay_s: float = 0.0
    """Every request waits this long first (slows a feed down for kill tests)."""


@dataclass
class Received:
    key: str
    body: bytes
    headers: dict[str, str]


@dataclass
class ChaosReceiver:
    public_key: Ed25519PublicKey
    chaos: Chaos = field(default_factory=Chaos)
    seed: int = 1
    stored: list[Received] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> ChaosReceiver:
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def unique(self) -> dict[str, bytes]:
        """Idempotency key → body, as a receiver that drops duplicates keeps them."""
        with self._lock:
            out: dict[str, bytes] = {}
            for r in self.stored:
                assert out.setdefault(r.key, r.body) == r.body, f"{r.key}: two bodies"
            return out

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = _headers(head)
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            await asyncio.sleep(self.chaos.delay_s)
            await self._answer(writer, headers, body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, headers: dict[str, str],
                      body: bytes) -> None:
        outcome = self._outcome(headers, body)
        self.outcomes[outcome] += 1
        if outcome in {"stored", "store_drop", "stall"}:
            self._store(headers, body)
        if outcome == "stall":
            await asyncio.sleep(self.chaos.stall_s)
        answer = _ANSWERS.get(outcome)
        if answer is not None:
            await _respond(writer, *answer)

    def _outcome(self, headers: dict[str, str], body: bytes) -> str:
        try:
            verify(self.public_key, body, _Cased(headers), time.time(), 300)
        except SignatureError:
            return "bad_signature"
        if b"poison" in body:
            return "poison"
        c = self.chaos
        draw = self._rng.random()
        for name, p in (("500", c.p_500), ("429", c.p_429), ("drop", c.p_drop),
                        ("store_drop", c.p_store_drop), ("stall", c.p_stall)):
            if draw < p:
                return name
            draw -= p
        return "stored"

    def _store(self, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.stored.append(Received(headers["idempotency-key"], body, headers))


_ANSWERS: dict[str, tuple[int, bytes, bytes]] = {
    "bad_signature": (401, b'{"error":"bad signature"}', b""),
    "poison": (400, b'{"error":"we cannot read this"}', b""),
    "500": (500, b"", b""),
    "429": (429, b"", b"Retry-After: 0\r\n"),
    "stall": (200, b'{"ok":true}', b""),
    "stored": (200, b'{"ok":true}', b""),
}
"""What each outcome answers; "drop" and "store_drop" close the connection without a word."""


class _Cased(dict[str, str]):
    """Header lookup by the canonical names `verify` uses (stored lower-case)."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)
            if k}


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes = b"",
                   extra: bytes = b"") -> None:
    writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n%s\r\n%s" % (status, len(body), extra, body))
    with contextlib.suppress(ConnectionError):
        await writer.drain()
