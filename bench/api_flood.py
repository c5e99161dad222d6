"""Benchmark: a police query's latency while a subscription flood replays the whole log.

    python bench/api_flood.py [--sockets 200] [--subs 20] [--incidents 300] [--seconds 15]
                              [--runs 3] [--caps default|raised]

The attack of issue 12: one ZhKKh token opens `--sockets` WebSockets, each with `--subs`
`incidentUpdates(after: "0")` subscriptions (a replay of the whole log each), and reads what
comes. Meanwhile a police client asks `incidents(first: 20)` in a loop (one at a time, 20 ms
apart) and `/healthz` beside it; the figures are their latency percentiles, and the API
process's resident memory before, at its peak during, and 3 s after the flood.

Conditions: the API is one uvicorn process (as `kuzet api`), on a SQLite event store seeded
with `--incidents` incidents through the real correlation engine (police, ZhKKh and fire kinds
in turn) and a SQLite read model the real projection runner filled (so `incidents` reads the
operator board, as deployed). The flood runs in a second process, the police client in this
one. `--caps default` is the API's configuration (8 sockets and 40 subscriptions per
principal, 64 sockets per address): most of the flood is refused and what is accepted replays
in shared pages; `--caps raised` lifts the caps (1000 sockets, 100,000 subscriptions) so that
every replay runs: what remains is the paged, turn-taking replay alone. Each run starts a
fresh API process; the summary is the median of `--runs` runs. Nothing here is asserted: the
figures are printed beside the conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api import ApiConfig, Role, issue_token
from domain.application import IncidentApp
from kuzet.broker import free_port
from tests.helpers import default_rules

SECRET = "bench-secret-0123456789"
FLOOD = "subscription { incidentUpdates(after: \"0\") { cursor incident { id status } } }"
POLICE = "{ incidents(first: 20) { totalCount edges { node { id status key } } } }"
KINDS = ("weapon", "garbage_overflow", "fire")


def _env(folder: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(Path(folder) / "events.sqlite")}


def serve(folder: str, port: int, caps: str) -> None:
    import uvicorn

    from api import create_app

    raised = {"max_ws_per_principal": 1000, "max_ws_per_address": 1000,
              "max_subscriptions_per_principal": 100_000} if caps == "raised" else {}
    config = ApiConfig(event_store_env=_env(folder), rules=default_rules(),
                       token_secret=SECRET, read_model=str(Path(folder) / "views.sqlite"),
                       **raised)
    app = create_app(config)
    if os.environ.get("KUZET_BENCH_LAG"):
        app.add_middleware(_LagProbe)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error",
                ws="websockets-sansio", ws_per_message_deflate=False,
                ws_max_size=config.max_body_bytes)


class _LagProbe:
    """Diagnostics (KUZET_BENCH_LAG=1): a thread pings the event loop every 50 ms and prints
    each answer later than 200 ms with the process CPU time used meanwhile: CPU near the lag
    means the loop was busy, CPU near zero means the process was not scheduled."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.started = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not self.started:
            self.started = True
            import threading

            loop = asyncio.get_running_loop()
            threading.Thread(target=self._watch, args=(loop,), daemon=True).start()
        await self.app(scope, receive, send)

    @staticmethod
    def _watch(loop: asyncio.AbstractEventLoop) -> None:
        import threading

        while True:
            done = threading.Event()
            t0, c0 = time.monotonic(), time.process_time()
            loop.call_soon_threadsafe(done.set)
            done.wait()
            lag, cpu = time.monotonic() - t0, time.process_time() - c0
            if lag > 0.2:
                print(f"loop lag {lag * 1e3:.0f} ms, process CPU meanwhile {cpu * 1e3:.0f} ms",
                      file=sys.stderr, flush=True)
            time.sleep(0.05)


def seed(folder: str, count: int) -> int:
    """`count` incidents through the correlation engine, and the read model caught up."""
    from domain.log import LogReader
    from domain.routing import SiteDirectory
    from projections import ProjectionRunner, SqliteStore, all_views
    from tests.e2e.api.harness import open_incident

    app = IncidentApp(_env(folder), default_rules())
    for i in range(count):
        open_incident(app, KINDS[i % len(KINDS)])

    async def project() -> None:
        store = SqliteStore(str(Path(folder) / "views.sqlite"))
        runner = ProjectionRunner(LogReader(app), store, all_views(SiteDirectory({}), 5))
        try:
            await runner.setup()
            await runner.catch_up()
        finally:
            await store.close()

    asyncio.run(project())
    return int(app.recorder.max_notification_id() or 0)


async def flood(url: str, sockets: int, subs: int, seconds: float) -> None:
    """The attack (its own process): prints what it got as one JSON line."""
    token = issue_token(SECRET, subject="greedy", role=Role.ZHKKH, ttl_s=3600)
    stats = {"accepted": 0, "refused": 0, "frames": 0, "errors": 0}

    async def one() -> None:
        try:
            async with websockets.connect(url, subprotocols=["graphql-transport-ws"],
                                          max_queue=None, max_size=None) as ws:
                await ws.send(json.dumps({"type": "connection_init",
                                          "payload": {"authorization": f"Bearer {token}"}}))
                if json.loads(await ws.recv())["type"] != "connection_ack":
                    return
                stats["accepted"] += 1
                for i in range(subs):
                    await ws.send(json.dumps({"id": str(i), "type": "subscribe",
                                              "payload": {"query": FLOOD}}))
                async for raw in ws:
                    msg = json.loads(raw)
                    if msg.get("type") == "next":
                        stats["errors" if msg["payload"].get("errors") else "frames"] += 1
                    elif msg.get("type") == "error":
                        stats["errors"] += 1
        except (websockets.ConnectionClosed, websockets.InvalidStatus, OSError):
            stats["refused"] += 1

    tasks = [asyncio.create_task(one()) for _ in range(sockets)]
    await asyncio.sleep(seconds)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(stats), flush=True)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def probe(base: str, seconds: float, pid: int, peak: list[float]) -> dict[str, list[float]]:
    token = issue_token(SECRET, subject="officer", role=Role.POLICE, ttl_s=3600)
    out: dict[str, list[float]] = {"incidents": [], "healthz": [], "at": []}
    with httpx.Client(timeout=120) as client:
        begin = time.monotonic()
        end = begin + seconds
        while time.monotonic() < end:
            out["at"].append(time.monotonic() - begin)
            t0 = time.perf_counter()
            r = client.post(f"{base}/graphql", json={"query": POLICE},
                            headers={"Authorization": f"Bearer {token}"})
            out["incidents"].append(time.perf_counter() - t0)
            if r.status_code != 200 or "errors" in r.json():
                raise RuntimeError(f"police query failed: {r.text[:200]}")
            t0 = time.perf_counter()
            client.get(f"{base}/healthz")
            out["healthz"].append(time.perf_counter() - t0)
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.02)
    return out


def wait_port(port: int) -> None:
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def one_run(folder: str, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", folder, str(port),
                               args.caps])
    try:
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        quiet = probe(base, 3, server.pid, [0.0])
        before = rss_mb(server.pid)
        attack = subprocess.Popen([sys.executable, __file__, "--flood", f"ws://127.0.0.1:{port}"
                                   "/graphql", str(args.sockets), str(args.subs),
                                   str(args.seconds + 2)], stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)  # the flood connects and starts replaying
        peak = [before]
        loaded = probe(base, args.seconds, server.pid, peak)
        got = json.loads(attack.communicate(timeout=120)[0].strip().splitlines()[-1])
        time.sleep(3)
        return {"quiet": quiet, "loaded": loaded, "rss": (before, peak[0], rss_mb(server.pid)),
                "flood": got}
    finally:
        server.terminate()
        server.wait(10)


def main(args: argparse.Namespace) -> None:
    folder = tempfile.mkdtemp()
    t0 = time.perf_counter()
    head = seed(folder, args.incidents)
    print(f"conditions: {os.cpu_count()} CPUs (shared), Python {sys.version.split()[0]}, "
          f"SQLite store of {args.incidents} incidents / {head} log positions "
          f"(seeded in {time.perf_counter() - t0:.0f}s), read model caught up; flood "
          f"{args.sockets} sockets x {args.subs} incidentUpdates(after: \"0\") with one ZhKKh "
          f"token for {args.seconds:.0f}s; caps {args.caps}; police: incidents(first: 20) "
          f"in a loop; {args.runs} runs, fresh API process each")
    runs = []
    for i in range(args.runs):
        r = one_run(folder, args)
        runs.append(r)
        q, lo = r["quiet"]["incidents"], r["loaded"]["incidents"]
        h = r["loaded"]["healthz"]
        rss = r["rss"]
        print(f"run {i + 1}: police incidents p50/p99/max quiet {1e3 * statistics.median(q):.1f}/"
              f"{1e3 * percentile(q, 0.99):.1f}/{1e3 * max(q):.1f} ms, under flood "
              f"{1e3 * statistics.median(lo):.1f}/{1e3 * percentile(lo, 0.99):.1f}/"
              f"{1e3 * max(lo):.1f} ms ({len(lo)} queries; slowest "
              f"{r['loaded']['at'][lo.index(max(lo))] + 1:.1f}s after the flood began); "
              f"healthz p99 "
              f"{1e3 * percentile(h, 0.99):.1f} ms; API RSS {rss[0]:.0f} -> peak {rss[1]:.0f} "
              f"-> {rss[2]:.0f} MB after; flood got {r['flood']}")
    p99 = [percentile(r["loaded"]["incidents"], 0.99) for r in runs]
    p50 = [statistics.median(r["loaded"]["incidents"]) for r in runs]
    hz = [percentile(r["loaded"]["healthz"], 0.99) for r in runs]
    peak = [r["rss"][1] for r in runs]
    print(f"median of {args.runs}: police incidents under flood p50 "
          f"{1e3 * statistics.median(p50):.1f} ms, p99 {1e3 * statistics.median(p99):.1f} ms; "
          f"healthz p99 {1e3 * statistics.median(hz):.1f} ms; API peak RSS "
          f"{statistics.median(peak):.0f} MB")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        sys.exit(0)
    if len(sys.argv) == 6 and sys.argv[1] == "--flood":
        asyncio.run(flood(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])))
        sys.exit(0)
    p = argparse.ArgumentParser()
    p.add_argument("--sockets", type=int, default=200)
    p.add_argument("--subs", type=int, default=20)
    p.add_argument("--incidents", type=int, default=300)
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--caps", choices=["default", "raised"], default="default")
    main(p.parse_args())
