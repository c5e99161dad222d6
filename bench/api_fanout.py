"""Benchmark: subscription fan-out of the GraphQL API (one uvicorn worker, subprocess).

    python bench/api_fanout.py [--subscribers 100] [--events 1500] [--seconds 10] [--rate R]
                               [--runs 3] [--deflate]

The API runs with its subscription-flood limits at their defaults (`ApiConfig`: at most 8
sockets per principal, 64 per address): each subscriber is its own operator (`bench-<i>`,
one socket each) and the subscribers connect from `--addresses` loopback addresses (127.0.0.2,
127.0.0.3, ...), so no cap refuses the bench. Each phase runs `--runs` times; the figures
printed last are medians (`kuzet.bench_conditions`).

Phase 1 (throughput): 100 graphql-transport-ws subscribers; operator notes are appended to
the SQLite event store as fast as possible, round-robin over `INCIDENTS` incidents (one
incident's append cost grows with its history: on one incident the writer, not the fan-out,
would be timed), up to `--per-commit` events per transaction (the correlator also writes a
batch per transaction; one fsync per event made the writer, not the fan-out, the limit on a
busy disk); prints deliveries/s (events x subscribers / time from first append to last
delivery), and the server process's CPU time per delivery (user + system, from /proc on
Linux): on a shared machine the wall-clock rate moves with the neighbours' load, the CPU cost
per delivery much less, and one core's capacity is its inverse. Phase 2 (latency): events at
half the measured event rate (or `--rate` events/s, to compare runs at one load);
publish->receive latency from the event's store timestamp (taken just before append) to its
arrival at each subscriber, p50/p99.

The server runs as `kuzet api` does: WebSocket permessage-deflate off (`--deflate` turns it on,
to compare; compressing each ~150-byte frame per subscriber costs CPU on both ends).
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
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api import ApiConfig, Role, issue_token
from domain.application import IncidentApp
from domain.incident import operator
from kuzet.bench_conditions import Conditions, median
from kuzet.broker import free_port
from tests.helpers import default_rules

SECRET = "bench-secret-0123456789"
SUB = "subscription { incidentUpdates { cursor at version } }"
INCIDENTS = 50


def serve(db: str, port: int, deflate: bool) -> None:
    import uvicorn

    from api import create_app

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": db}
    config = ApiConfig(event_store_env=env, rules=default_rules(), token_secret=SECRET,
                       poll_interval_s=0.005, subscriber_queue=5000)
    uvicorn.run(create_app(config), host="127.0.0.1", port=port, log_level="warning",
                ws="websockets-sansio", ws_per_message_deflate=deflate)


async def subscriber(url: str, token: str, address: str, out: list[tuple[float, str]],
                     ready: asyncio.Event, counter: list[int], n: int) -> None:
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"],
                                  max_queue=None, local_addr=(address, 0)) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"authorization": f"Bearer {token}"}}))
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUB}}))
        counter[0] += 1
        if counter[0] == n:
            ready.set()
        async for raw in ws:  # parsed after the run: the client, on the same cores, stays cheap
            out.append((time.time(), str(raw)))


def writer(app: IncidentApp, iids: list[Any], count: int, rate: float | None,
           per_commit: int, commits: list[float] | None = None) -> None:
    """Appends `count` operator notes round-robin over `iids`: as fast as possible (`rate`
    None) or at `rate` events/s; each transaction holds what is due, at most `per_commit`
    events (one per incident), each stamped with the time just before its transaction."""
    incidents = [app.incident(iid) for iid in iids]
    actor = operator("bench")
    start, i = time.perf_counter(), 0
    while i < count:
        due = count - i if not rate else min(
            count, int((time.perf_counter() - start) * rate) + 1) - i
        if due <= 0:
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))  # type: ignore[operator]
            continue
        batch = []
        at = datetime.now(UTC)
        for _ in range(min(due, per_commit, len(incidents))):
            incident = incidents[i % len(incidents)]
            incident.add_note(text=f"n{i}", actor=actor, at=at)
            batch.append(incident)
            i += 1
        began = time.perf_counter()
        app.save(*batch)
        if commits is not None:  # the store's share of publish->receive: stamp to durable
            commits.append(time.perf_counter() - began)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds process `pid` has used (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _at(raw: str) -> str:
    msg = json.loads(raw)
    if msg.get("type") != "next":
        raise RuntimeError(f"not a next message: {raw}")
    return str(msg["payload"]["data"]["incidentUpdates"]["at"])


async def wait_deliveries(out: list, want: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def throughput(app: IncidentApp, iids: list[Any], pid: int, out: list,
                     args: argparse.Namespace) -> tuple[float, float | None]:
    """One phase-1 run: (deliveries/s, server CPU seconds per delivery)."""
    out.clear()
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    thread = threading.Thread(target=writer, args=(app, iids, args.events, None,
                                                           args.per_commit))
    thread.start()
    want = args.events * args.subscribers
    await wait_deliveries(out, want, 90)
    elapsed = time.perf_counter() - t0
    cpu1 = cpu_seconds(pid)
    thread.join()
    rate = len(out) / elapsed
    print(f"fan-out: {len(out)}/{want} deliveries to {args.subscribers} subscribers in "
          f"{elapsed:.2f}s = {rate:,.0f} deliveries/s ({args.events / elapsed:,.0f} events/s)",
          flush=True)
    per = None
    if cpu0 is not None and cpu1 is not None and out:
        per = (cpu1 - cpu0) / len(out)
        print(f"server CPU: {cpu1 - cpu0:.2f}s = {per * 1e6:.1f} us/delivery "
              f"(one core: {1 / per:,.0f} deliveries/s)", flush=True)
    return rate, per


async def latency(app: IncidentApp, iids: list[Any], out: list, events_per_s: float,
                  args: argparse.Namespace) -> tuple[float, float]:
    """One phase-2 run at `events_per_s`: (p50, p99) publish->receive seconds."""
    out.clear()
    n = int(events_per_s * args.seconds)
    commits: list[float] = []
    thread = threading.Thread(target=writer,
                              args=(app, iids, n, events_per_s, args.per_commit, commits))
    thread.start()
    await wait_deliveries(out, n * args.subscribers, args.seconds + 30)
    thread.join()
    lat = sorted(r - datetime.fromisoformat(_at(raw)).timestamp() for r, raw in out)
    p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
    print(f"latency at {events_per_s:,.0f} events/s ({events_per_s * args.subscribers:,.0f} "
          f"deliveries/s, {len(out)}/{n * args.subscribers} deliveries): "
          f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; of which the store's append "
          f"(stamp to commit) p50 {statistics.median(commits) * 1000:.1f} ms, p99 "
          f"{sorted(commits)[int(len(commits) * 0.99)] * 1000:.1f} ms", flush=True)
    return p50, p99


async def main(args: argparse.Namespace) -> None:
    tmp = tempfile.mkdtemp()
    db = str(Path(tmp) / "events.sqlite")
    app = IncidentApp({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": db},
                      default_rules())
    iids = await asyncio.to_thread(open_pool, app, INCIDENTS)
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", db, str(port),
                             "deflate" if args.deflate else "plain"])
    conditions = Conditions("api_fanout", subscribers=args.subscribers, events=args.events,
                            seconds=args.seconds, runs=args.runs, deflate=args.deflate,
                            per_commit=args.per_commit,
                            selection=SUB, caps="ApiConfig defaults",
                            addresses=args.addresses)
    try:
        await wait_port(port)
        url = f"ws://127.0.0.1:{port}/graphql"
        out: list[tuple[float, str]] = []
        ready, counter = asyncio.Event(), [0]
        tasks = []
        for i in range(args.subscribers):
            token = issue_token(SECRET, subject=f"bench-{i}", role=Role.OPERATOR, ttl_s=3600)
            address = f"127.0.0.{2 + i % args.addresses}"
            tasks.append(asyncio.create_task(subscriber(url, token, address, out, ready,
                                                        counter, args.subscribers)))
        await asyncio.wait_for(ready.wait(), 60)
        await asyncio.sleep(1.0)
        with conditions as c:
            rates, cpus = [], []
            for _ in range(args.runs):
                rate, per = await throughput(app, iids, proc.pid, out, args)
                rates.append(rate)
                if per is not None:
                    cpus.append(per * 1e6)
            half = args.rate or median(rates) / args.subscribers / 2
            p50s, p99s = [], []
            for _ in range(args.runs):
                p50, p99 = await latency(app, iids, out, half, args)
                p50s.append(p50 * 1000)
                p99s.append(p99 * 1000)
            load = "fixed load" if args.rate else "half load"
            c.figure("fan-out", median(rates), "deliveries/s", runs=rates)
            if cpus:
                c.figure("server CPU", median(cpus), "us/delivery", runs=cpus)
            c.figure(f"p50 at {load} ({half:,.0f} events/s)", median(p50s), "ms", runs=p50s)
            c.figure(f"p99 at {load} ({half:,.0f} events/s)", median(p99s), "ms", runs=p99s)
        for t in tasks:
            t.cancel()
        failed = [r for r in await asyncio.gather(*tasks, return_exceptions=True)
                  if not isinstance(r, asyncio.CancelledError)]
        if failed:
            print(f"{len(failed)} subscribers failed: {failed[0]!r}")
    finally:
        proc.terminate()
        proc.wait(10)


def open_pool(app: IncidentApp, count: int) -> list[Any]:
    from tests.e2e.api.harness import open_incident

    return [open_incident(app, "weapon") for _ in range(count)]


async def wait_port(port: int) -> None:
    for _ in range(300):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "deflate")
        sys.exit(0)
    p = argparse.ArgumentParser()
    p.add_argument("--subscribers", type=int, default=100)
    p.add_argument("--events", type=int, default=1500)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rate", type=float, default=None, help="latency phase events/s")
    p.add_argument("--per-commit", type=int, default=INCIDENTS,
                   help="most events the writer appends in one transaction")
    p.add_argument("--runs", type=int, default=3, help="runs per phase (medians reported)")
    p.add_argument("--addresses", type=int, default=2,
                   help="loopback source addresses the subscribers spread over")
    p.add_argument("--deflate", action="store_true", help="WebSocket compression on")
    asyncio.run(main(p.parse_args()))
