"""Light graphql-transport-ws subscribers for the fan-out benchmark, in their own process.

    python bench/ws_clients.py URL TOKENS_FILE ADDRESSES QUERY

The benchmark measures the server: its subscribers stand for operator consoles on other
machines. Run with the `websockets` library inside the benchmark's own process, the 100
clients parsed every frame in Python (~25 µs each, most of a core at 35,000 deliveries/s)
and shared the GIL with the writer thread, so on the 2-core machine the measured latency was
mostly the clients' own queue. These clients speak the WebSocket protocol directly on an
`asyncio.Protocol`: each frame's header is read as it arrives (pings answered) and its
payload kept with the wall-clock time of the read that completed it; payloads are parsed
only when a phase ends.

Control on stdin/stdout, one JSON line each way: the parent writes
`{"want": N, "timeout": S}` when a phase begins; the clients answer when N `next` payloads
have arrived (or the timeout passed) with `{"count", "last", "lat_ms": [p50, p99], "stamps"}`
— latency from each payload's `at` (the store's stamp) to its receipt. The first line they
write, `{"ready": K}`, says K subscriptions are acknowledged.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import struct
import sys
import time
from datetime import datetime
from urllib.parse import urlsplit


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 §5.3: clients must mask)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class Subscriber(asyncio.Protocol):
    """One socket: HTTP upgrade, connection_init, subscribe; then frames into `received`."""

    def __init__(self, host: str, path: str, token: str, query: str,
                 received: list[tuple[float, bytes]], acked: asyncio.Event) -> None:
        self.host, self.path, self.token, self.query = host, path, token, query
        self.received, self.acked = received, acked
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n").encode())

    def _send(self, message: dict[str, object]) -> None:
        assert self.transport is not None
        self.transport.write(_frame(0x1, json.dumps(message).encode()))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[:end]).split(b"\r\n", 1)[0]
            if b" 101 " not in status:
                raise RuntimeError(f"upgrade refused: {status!r}")
            del self.buf[:end + 4]
            self.upgraded = True
            self._send({"type": "connection_init",
                        "payload": {"authorization": f"Bearer {self.token}"}})
        buf, pos = self.buf, 0
        while len(buf) - pos >= 2:
            opcode, n, at = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, pos + 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n, at = struct.unpack_from("!H", buf, at)[0], at + 2
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n, at = struct.unpack_from("!Q", buf, at)[0], at + 8
            if len(buf) - at < n:
                break
            payload = bytes(buf[at:at + n])
            pos = at + n
            if opcode == 0x9:  # ping
                assert self.transport is not None
                self.transport.write(_frame(0xA, payload))
            elif opcode == 0x1 and not self.acked.is_set():
                if json.loads(payload).get("type") == "connection_ack":
                    self._send({"id": "1", "type": "subscribe",
                                "payload": {"query": self.query}})
                    self.acked.set()
            elif opcode == 0x1:
                self.received.append((now, payload))
            elif opcode == 0x8:
                raise RuntimeError(f"closed by the server: {payload!r}")
        del buf[:pos]


def _at(payload: bytes) -> float:
    msg = json.loads(payload)
    if msg.get("type") != "next":
        raise RuntimeError(f"not a next message: {payload!r}")
    return datetime.fromisoformat(msg["payload"]["data"]["incidentUpdates"]["at"]).timestamp()


async def main(url: str, tokens: list[str], addresses: int, query: str) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    received: list[tuple[float, bytes]] = []
    loop = asyncio.get_running_loop()
    acks = []
    for i, token in enumerate(tokens):
        acked = asyncio.Event()
        await loop.create_connection(
            lambda t=token, a=acked: Subscriber(f"{host}:{port}", parts.path, t, query,  # type: ignore[misc]
                                                received, a),
            host, port, local_addr=(f"127.0.0.{2 + i % addresses}", 0))
        acks.append(acked)
    for acked in acks:
        await acked.wait()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": len(acks)}), flush=True)
    while line := await reader.readline():
        phase = json.loads(line)
        received.clear()
        deadline = time.monotonic() + phase["timeout"]
        while len(received) < phase["want"] and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        got = list(received)
        lat = sorted((r - _at(p)) * 1000 for r, p in got)
        pct = [lat[len(lat) // 2], lat[max(0, int(len(lat) * 0.99) - 1)]] if lat else []
        print(json.dumps({"count": len(got), "last": max((r for r, _ in got), default=0.0),
                          "lat_ms": pct}), flush=True)


if __name__ == "__main__":
    gc.disable()  # a collection over the growing list of receipts would delay their stamps
    url, tokens_file, addresses, query = sys.argv[1:5]
    with open(tokens_file) as f:
        asyncio.run(main(url, f.read().split(), int(addresses), query))
