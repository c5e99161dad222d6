"""Benchmark: subscription fan-out of the GraphQL API (one uvicorn worker, subprocess).

    python bench/api_fanout.py [--subscribers 100] [--events 1500] [--seconds 10] [--rate R]
                               [--runs 3]

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

The server runs as `kuzet api` does (WebSocket permessage-deflate off). The subscribers run in
their own process (`bench/ws_clients.py`: the WebSocket protocol on a bare asyncio protocol,
payloads parsed after each phase): in this process, with the `websockets` library, they
parsed every frame in Python beside the writer thread and, on 2 cores, their own queue was
most of the measured p99. (The `--deflate` comparison of earlier rounds went with them: the
light clients do not negotiate compression.)
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


def serve(db: str, port: int) -> None:
    import uvicorn

    from api import create_app

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": db}
    config = ApiConfig(event_store_env=env, rules=default_rules(), token_secret=SECRET,
                       subscriber_queue=5000)  # the log follower polls as `kuzet api`'s does
    uvicorn.run(create_app(config), host="127.0.0.1", port=port, log_level="warning",
                ws="websockets-sansio", ws_per_message_deflate=False)


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


class Clients:
    """The subscribers' process (`bench/ws_clients.py`): one JSON line each way per phase."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await self.proc.stdout.readline()
        if not raw:
            raise RuntimeError("the subscribers' process ended")
        return dict(json.loads(raw))

    async def phase(self, want: int, timeout: float) -> dict[str, Any]:
        """Deliveries until `want` arrived (or `timeout`): count, last receipt, p50/p99."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"want": want, "timeout": timeout}).encode() + b"\n")
        await self.proc.stdin.drain()
        return await self.line()


async def throughput(app: IncidentApp, iids: list[Any], pid: int, clients: Clients,
                     args: argparse.Namespace) -> tuple[float, float | None]:
    """One phase-1 run: (deliveries/s, server CPU seconds per delivery)."""
    want = args.events * args.subscribers
    answer = asyncio.create_task(clients.phase(want, 90))
    await asyncio.sleep(0.1)  # the phase line reached the clients before the first append
    cpu0 = cpu_seconds(pid)
    t0 = time.time()
    thread = threading.Thread(target=writer, args=(app, iids, args.events, None,
                                                           args.per_commit))
    thread.start()
    got = await answer
    cpu1 = cpu_seconds(pid)
    thread.join()
    count, elapsed = got["count"], got["last"] - t0
    rate = count / elapsed
    print(f"fan-out: {count}/{want} deliveries to {args.subscribers} subscribers in "
          f"{elapsed:.2f}s = {rate:,.0f} deliveries/s ({args.events / elapsed:,.0f} events/s)",
          flush=True)
    per = None
    if cpu0 is not None and cpu1 is not None and count:
        per = (cpu1 - cpu0) / count
        print(f"server CPU: {cpu1 - cpu0:.2f}s = {per * 1e6:.1f} us/delivery "
              f"(one core: {1 / per:,.0f} deliveries/s)", flush=True)
    return rate, per


async def latency(app: IncidentApp, iids: list[Any], clients: Clients, events_per_s: float,
                  args: argparse.Namespace) -> tuple[float, float]:
    """One phase-2 run at `events_per_s`: (p50, p99) publish->receive seconds."""
    n = int(events_per_s * args.seconds)
    answer = asyncio.create_task(clients.phase(n * args.subscribers, args.seconds + 30))
    await asyncio.sleep(0.1)
    commits: list[float] = []
    thread = threading.Thread(target=writer,
                              args=(app, iids, n, events_per_s, args.per_commit, commits))
    thread.start()
    got = await answer
    thread.join()
    p50, p99 = (v / 1000 for v in got["lat_ms"])
    print(f"latency at {events_per_s:,.0f} events/s ({events_per_s * args.subscribers:,.0f} "
          f"deliveries/s, {got['count']}/{n * args.subscribers} deliveries): "
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
    proc = subprocess.Popen([sys.executable, __file__, "--serve", db, str(port)])
    conditions = Conditions("api_fanout", subscribers=args.subscribers, events=args.events,
                            seconds=args.seconds, runs=args.runs,
                            clients="bench/ws_clients.py process",
                            per_commit=args.per_commit,
                            selection=SUB, caps="ApiConfig defaults",
                            poll_interval_s=ApiConfig.poll_interval_s,
                            addresses=args.addresses)
    try:
        await wait_port(port)
        url = f"ws://127.0.0.1:{port}/graphql"
        tokens = Path(tmp) / "tokens"
        tokens.write_text("\n".join(
            issue_token(SECRET, subject=f"bench-{i}", role=Role.OPERATOR, ttl_s=3600)
            for i in range(args.subscribers)))
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).with_name("ws_clients.py")), url, str(tokens),
            str(args.addresses), SUB, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        clients = Clients(child)
        ready = await asyncio.wait_for(clients.line(), 60)
        if ready.get("ready") != args.subscribers:
            raise RuntimeError(f"subscribers not ready: {ready}")
        await asyncio.sleep(1.0)  # the server registers each subscription after its ack
        with conditions as c:
            rates, cpus = [], []
            for _ in range(args.runs):
                rate, per = await throughput(app, iids, proc.pid, clients, args)
                rates.append(rate)
                if per is not None:
                    cpus.append(per * 1e6)
            half = args.rate or median(rates) / args.subscribers / 2
            p50s, p99s = [], []
            for _ in range(args.runs):
                p50, p99 = await latency(app, iids, clients, half, args)
                p50s.append(p50 * 1000)
                p99s.append(p99 * 1000)
            load = "fixed load" if args.rate else "half load"
            c.figure("fan-out", median(rates), "deliveries/s", runs=rates)
            if cpus:
                c.figure("server CPU", median(cpus), "us/delivery", runs=cpus)
            c.figure(f"p50 at {load} ({half:,.0f} events/s)", median(p50s), "ms", runs=p50s)
            c.figure(f"p99 at {load} ({half:,.0f} events/s)", median(p99s), "ms", runs=p99s)
        assert child.stdin is not None
        child.stdin.close()
        await child.wait()
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
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
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
    asyncio.run(main(p.parse_args()))
