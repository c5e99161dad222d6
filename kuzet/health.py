"""`/healthz` and `/readyz` for every long-running `kuzet` command, on `KUZET_HEALTH_PORT`.

- `GET /healthz`: 200 while the process runs (alive); the body names the process and its pid.
- `GET /metrics`: the process's Prometheus metrics (e.g. `kuzet_stream_dead_letters_total`).
- `GET /readyz`: 200 when the process is connected and caught up enough to serve, else 503;
  the JSON body says why (each command's `ready()` reports its own figures: consumer lag,
  view lag, relay lag, the broker child's pid). A standby relay or projection runner (another
  instance holds the lease) answers 200 with `"status": "standby"` (docs/deployment.md,
  Standbys): it is doing its job, waiting to take over.

A stdlib HTTP server on a daemon thread, so it answers while the process's event loop is busy
(a liveness probe must not time out because a batch is large) and needs no framework: the
worker's Faust web server, uvicorn and the broker supervisor all get the same two routes.
`ready` is called on that thread: it must only read state, never await or block.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from follow import Lease

__all__ = ["FOLLOWER_READY_MAX_LAG", "HealthServer", "Ready", "Standing", "following",
           "port_answers", "report_lag", "serve_health"]

FOLLOWER_READY_MAX_LAG = 1000
"""Projections and the relay are ready while at most this many log positions behind."""
FOLLOWER_REPORT_WITHIN_S = 30.0
"""... and while they reported their lag within this many seconds."""

log = logging.getLogger("kuzet.health")

Ready = Callable[[], tuple[bool, dict[str, Any]]]
"""Returns (ready, detail) without blocking."""


def _always_ready() -> tuple[bool, dict[str, Any]]:
    return True, {}


class HealthServer:
    """Serves /healthz and /readyz on `host:port` from a daemon thread until `stop()`."""

    def __init__(self, name: str, port: int, ready: Ready = _always_ready,
                 host: str = "127.0.0.1") -> None:
        self.name, self.ready = name, ready
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"kuzet-health-{name}", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        """Status and body for one request path."""
        base = {"process": self.name, "pid": os.getpid()}
        if path == "/healthz":
            return 200, {**base, "status": "alive"}
        if path == "/readyz":
            try:
                ok, detail = self.ready()
            except Exception as exc:  # a readiness probe reports, it never kills the process
                ok, detail = False, {"error": f"{type(exc).__name__}: {exc}"}
            return (200 if ok else 503), {**base, "status": "ready" if ok else "not ready",
                                          **detail}
        return 404, {"error": f"no route {path}; try /healthz or /readyz"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":  # this process's Prometheus counters (dead letters…)
                    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

                    data, kind = generate_latest(), CONTENT_TYPE_LATEST
                    self.send_response(200)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                status, body = server.answer(path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would flood the process log

        return Handler


def serve_health(name: str, port: int, ready: Ready = _always_ready) -> HealthServer | None:
    """Start the health server when `port` is set (KUZET_HEALTH_PORT); None when it is 0."""
    if not port:
        return None
    server = HealthServer(name, port, ready).start()
    log.info("%s: /healthz and /readyz on 127.0.0.1:%d", name, server.port)
    return server


def port_answers(host: str, port: int) -> tuple[bool, dict[str, Any]]:
    """Readiness of a process whose real work is a server on `host:port` (the API)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True, {"serving": f"{host}:{port}"}
    except OSError as exc:
        return False, {"serving": f"{host}:{port}", "error": str(exc)}


class Standing:
    """Where this instance of a leased follower stands: `"starting"` (not asked for the lease
    yet), `"standby"` (another instance holds it) or `"active"` (it holds it)."""

    def __init__(self) -> None:
        self.state = "starting"

    def watch(self, lease: Lease) -> Lease:
        """`lease` (for `follow.lead`), recording here whether this instance holds it."""
        return _Watched(lease, self)


class _Watched:
    def __init__(self, lease: Lease, standing: Standing) -> None:
        self.lease, self.standing, self.what = lease, standing, lease.what

    def try_acquire(self) -> bool:
        held = self.lease.try_acquire()
        self.standing.state = "active" if held else "standby"
        return held

    def alive(self) -> bool:
        held = self.lease.alive()
        if not held:
            self.standing.state = "standby"
        return held

    def release(self) -> None:
        self.standing.state = "standby"
        self.lease.release()


def following(name: str, port: int,
              chained: Callable[[Mapping[str, int]], None] | None = None,
              standing: Standing | None = None
              ) -> tuple[HealthServer | None, Callable[[Mapping[str, int]], None]]:
    """Health for a log follower (projections, relay): the server and an `on_lag` callback.

    Ready while its last lag report is recent and no view (or the relay) is more than
    `FOLLOWER_READY_MAX_LAG` positions behind the log head. While `standing` says another
    instance holds the lease it is a standby: 200, `"status": "standby"`,
    and the last lag it saw if any (the relay's standby sees the active one's stored position).
    """
    seen: dict[str, Any] = {"lag": None, "at": 0.0}

    def on_lag(lag: Mapping[str, int]) -> None:
        seen.update(lag=dict(lag), at=time.monotonic())
        if chained is not None:
            chained(lag)

    def ready() -> tuple[bool, dict[str, Any]]:
        lag, age = seen["lag"], time.monotonic() - seen["at"]
        if standing is not None and standing.state == "standby":
            return True, {"status": "standby", "lag": lag}
        ok = (lag is not None and age < FOLLOWER_REPORT_WITHIN_S
              and max(lag.values(), default=0) <= FOLLOWER_READY_MAX_LAG)
        return ok, {"lag": lag, "reported_s_ago": round(age, 3) if lag is not None else None}

    return serve_health(name, port, ready), on_lag


async def report_lag(lag: Callable[[], Awaitable[int]],
                     on_lag: Callable[[Mapping[str, int]], None], stop: asyncio.Event,
                     every_s: float = 1.0) -> None:
    """Hand `lag()` to `on_lag` every `every_s` until `stop` (the relay's health)."""
    while not stop.is_set():
        with contextlib.suppress(Exception):  # a failed probe reads as "not reported"
            on_lag({"log": await lag()})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
