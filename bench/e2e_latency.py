"""Benchmark: end-to-end latency, detection on Kafka -> incident update at GraphQL subscribers.

    python bench/e2e_latency.py [--rates 1000,half] [--seconds 10] [--subscribers 100]
                                [--runs 3] [--burst 10000] [--evidence-interval S]
                                [--fetch-wait-ms 10] [--postgres SERVER_URL]

The real stack (`kuzet.stack.LocalStack`): the embedded broker, one `kuzet worker` (route and
correlate hops, SQLite event store in a fresh data folder, or a fresh PostgreSQL database with
`--postgres`) and `kuzet api` (its log follower
polls the store every KUZET_API_POLL_INTERVAL_S) as subprocesses; `--subscribers` operators
(one socket each, spread over two loopback addresses so the default connection caps hold)
subscribe to `incidentUpdates`. Detections (`weapon`, one hit opens an incident) are published
with aiokafka at a fixed rate, each `observed_at`-stamped with the moment it is published:
every `--open-every`-th from a new camera (it opens an incident), the others round-robin over
the last 100 cameras opened (evidence on their open incidents).

First the maximum: a burst of `--burst` detections published as fast as possible, timed until
every subscriber received every opening of the burst (the whole path, evidence aside). Then,
per rate (`1000` and `half` = half that maximum, `--runs` runs of `--seconds`),
from each update's receipt at every subscriber:
  * openings (`Opened`): receipt - the incident's `firstSeenAt` (the opening detection's
    publish time), split at the event's `at` (the worker's clock when it decided: publish ->
    decision covers the broker and both hops; decision -> receipt covers the store, the API's
    log follower and the fan-out);
  * evidence (`EvidenceAdded`, coalesced on purpose: at most one per incident per
    KUZET_EVIDENCE_INTERVAL_S): receipt - `lastSeenAt` (the newest detection it carries; the
    oldest waited up to one interval more), and the interval between an incident's
    consecutive evidence updates.
A rate is called sustained when openings published in the last third of the run are not
slower than those of the first third by more than a second (no growing backlog).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import defaultdict, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api import Role, issue_token
from domain.topics import DETECTIONS
from kuzet.bench_conditions import Conditions, median
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.settings import load_settings
from kuzet.stack import LocalStack

SECRET = "bench-secret-0123456789"
QUERY = ("subscription { incidentUpdates { eventType incidentId at "
         "incident { sources firstSeenAt lastSeenAt evidenceCount } } }")
ACTIVE = 100


class Detections:
    """Detections of one phase: new cameras open incidents, the others add evidence."""

    def __init__(self, tag: str, open_every: int) -> None:
        self.tag, self.open_every = tag, open_every
        self.active: deque[str] = deque(maxlen=ACTIVE)
        self.n = 0

    def next(self) -> tuple[bytes, bytes]:
        if self.n % self.open_every == 0 or not self.active:
            source = f"cam-{self.tag}-{self.n}"
            self.active.append(source)
        else:
            source = self.active[self.n % len(self.active)]
        self.n += 1
        rec = {"detection_id": str(uuid.uuid4()), "source_id": source, "source_kind": "camera",
               "kind": "weapon", "confidence": 0.9, "site_id": "bench-site",
               "observed_at": datetime.now(UTC).isoformat()}
        return source.encode(), json.dumps(rec).encode()


async def publish(bootstrap: str, detections: Detections, count: int,
                  rate: float | None) -> float:
    """Publishes `count` detections at `rate`/s (None: as fast as possible); seconds taken."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
    await producer.start()
    try:
        start, sent = time.perf_counter(), 0
        while sent < count:
            due = count if rate is None else min(
                count, int((time.perf_counter() - start) * rate) + 1)
            while sent < due:
                key, value = detections.next()
                await producer.send(DETECTIONS, value, key=key)
                sent += 1
            if rate is not None:
                await asyncio.sleep(0.002)
        await producer.flush()
        return time.perf_counter() - start
    finally:
        await producer.stop()


async def subscriber(url: str, token: str, address: str, out: list[tuple[float, str]],
                     joined: asyncio.Queue[None]) -> None:
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], max_queue=None,
                                  local_addr=(address, 0)) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"authorization": f"Bearer {token}"}}))
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": QUERY}}))
        joined.put_nowait(None)
        async for raw in ws:
            out.append((time.time(), str(raw)))  # parsed after the run: the client stays cheap


def updates(out: list[tuple[float, str]], tag: str) -> list[tuple[float, dict[str, Any]]]:
    """(receipt time, incidentUpdates) of the phase `tag`'s incidents."""
    found = []
    for at, raw in out:
        msg = json.loads(raw)
        if msg.get("type") != "next":
            continue  # `complete`: a subscriber ended (counted by `ended`)
        update = msg["payload"]["data"]["incidentUpdates"]
        if any(s.startswith(f"cam-{tag}-") for s in update["incident"]["sources"]):
            found.append((at, update))
    return found


def ended(out: list[tuple[float, str]]) -> int:
    """Subscriptions that ended (`complete` or `error`: the server dropped a slow consumer)."""
    return sum(1 for _, raw in out if '"type":"next"' not in raw)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def latencies(found: list[tuple[float, dict[str, Any]]]) -> dict[str, list[float]]:
    """Openings and evidence latencies (ms), evidence intervals (ms) at the first subscriber's
    receipts, and openings' latency by publish time (for the sustained check)."""
    out: dict[str, list[float]] = defaultdict(list)
    seen: dict[str, list[float]] = defaultdict(list)
    for at, u in found:
        incident = u["incident"]
        if u["eventType"] == "Opened":
            out["opened"].append((at - _ts(incident["firstSeenAt"])) * 1000)
            out["opened_published"].append(_ts(incident["firstSeenAt"]))
            out["opened to event"].append((_ts(u["at"]) - _ts(incident["firstSeenAt"])) * 1000)
            out["opened event to receipt"].append((at - _ts(u["at"])) * 1000)
        elif u["eventType"] == "EvidenceAdded":
            out["evidence"].append((at - _ts(incident["lastSeenAt"])) * 1000)
            seen[u["incidentId"]].append(_ts(incident["lastSeenAt"]))
    for stamps in seen.values():  # every subscriber saw each: distinct stamps, in order
        ordered = sorted(set(stamps))
        out["interval"] += [(b - a) * 1000 for a, b in itertools.pairwise(ordered)]
    return out


def sustained(lat: list[float], published: list[float]) -> bool:
    pairs = sorted(zip(published, lat, strict=True))
    third = len(pairs) // 3
    if third < 5:
        return True
    first = statistics.median(v for _, v in pairs[:third])
    last = statistics.median(v for _, v in pairs[-third:])
    return last - first < 1000


def interval(values: list[float]) -> str:
    if not values:  # each camera stays active ~100 / (rate / open_every) s: maybe one flush
        return "interval: no incident had two evidence updates in the run"
    return f"interval p50 {pct(values, 0.5):.0f} ms"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def wait_until(stack: LocalStack, check: Any, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for name, proc in stack.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {stack.logs}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}; see {stack.logs}")
        time.sleep(0.2)


async def settle(out: list[tuple[float, str]], tag: str, want_opened: int,
                 subscribers: int, timeout: float) -> None:
    """Waits until every subscriber received `want_opened` openings of phase `tag` (the last
    published included) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    marker = f'"cam-{tag}-'
    while time.monotonic() < deadline:
        opened = sum(1 for _, raw in out if marker in raw and '"Opened"' in raw)
        if opened >= want_opened * subscribers:
            return
        await asyncio.sleep(0.2)


async def measure(stack: LocalStack, args: argparse.Namespace, c: Conditions) -> None:
    url = f"ws://{stack.settings.api_host}:{stack.settings.api_port}/graphql"
    out: list[tuple[float, str]] = []
    joined: asyncio.Queue[None] = asyncio.Queue()
    tasks = [asyncio.create_task(subscriber(
        url, issue_token(SECRET, subject=f"bench-{i}", role=Role.OPERATOR, ttl_s=7200),
        f"127.0.0.{2 + i % 2}", out, joined)) for i in range(args.subscribers)]
    for _ in range(args.subscribers):
        await asyncio.wait_for(joined.get(), 120)
    warm = Detections("warm", 1)
    await publish(stack.bootstrap, warm, 3, None)
    await settle(out, "warm", 3, args.subscribers, 120)

    burst = Detections("burst", args.open_every)
    out.clear()
    start = time.perf_counter()
    await publish(stack.bootstrap, burst, args.burst, None)
    await settle(out, "burst", (args.burst + args.open_every - 1) // args.open_every,
                 args.subscribers, 300)
    maximum = args.burst / (time.perf_counter() - start)
    print(f"maximum: {args.burst} detections, every opening at every subscriber in "
          f"{args.burst / maximum:.1f}s = {maximum:,.0f} detections/s", flush=True)
    c.figure("maximum (burst, openings at every subscriber)", maximum, "detections/s")
    await asyncio.sleep(stack.settings.evidence_interval_s + 1)

    for spec in args.rates.split(","):
        rate = maximum / 2 if spec == "half" else float(spec)
        if rate > maximum:
            print(f"{rate:,.0f}/s is beyond this machine's measured maximum "
                  f"({maximum:,.0f}/s): measured anyway, see `sustained`", flush=True)
        results: dict[str, list[float]] = defaultdict(list)
        for run in range(args.runs):
            tag = f"r{int(rate)}x{run}"
            out.clear()
            detections = Detections(tag, args.open_every)
            count = int(rate * args.seconds)
            took = await publish(stack.bootstrap, detections, count, rate)
            opened = (count + args.open_every - 1) // args.open_every
            await settle(out, tag, opened, args.subscribers, 60)
            await asyncio.sleep(stack.settings.evidence_interval_s + 1)
            lat = latencies(updates(out, tag))
            ok = sustained(lat["opened"], lat["opened_published"])
            print(f"rate {rate:,.0f}/s run {run + 1}: published {count} in {took:.1f}s; "
                  f"openings {len(lat['opened'])} p50 {pct(lat['opened'], 0.5):.1f} p99 "
                  f"{pct(lat['opened'], 0.99):.1f} max {max(lat['opened'], default=0):.1f} ms; "
                  f"evidence {len(lat['evidence'])} p50 {pct(lat['evidence'], 0.5):.1f} p99 "
                  f"{pct(lat['evidence'], 0.99):.1f} max {max(lat['evidence'], default=0):.1f} "
                  f"ms, {interval(lat['interval'])}; "
                  f"{'sustained' if ok else 'NOT sustained (backlog grows)'}; "
                  f"{ended(out)} subscriptions ended by the server", flush=True)
            print(f"  openings split: publish -> worker's decision p50 "
                  f"{pct(lat['opened to event'], 0.5):.1f} p99 "
                  f"{pct(lat['opened to event'], 0.99):.1f} ms; decision -> receipt p50 "
                  f"{pct(lat['opened event to receipt'], 0.5):.1f} p99 "
                  f"{pct(lat['opened event to receipt'], 0.99):.1f} ms", flush=True)
            for kind in ("opened", "evidence", "opened to event", "opened event to receipt"):
                results[f"{kind} p50"].append(pct(lat[kind], 0.5))
                results[f"{kind} p99"].append(pct(lat[kind], 0.99))
                results[f"{kind} max"].append(max(lat[kind], default=float("nan")))
            results["interval p50"].append(pct(lat["interval"], 0.5))
            results["sustained"].append(1.0 if ok else 0.0)
        for name, values in results.items():
            unit = "of runs" if name == "sustained" else "ms"
            c.figure(f"{rate:,.0f}/s {name}", median(values) if unit == "ms"
                     else sum(values), unit, runs=values)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def unwatched(tmp: Path) -> dict[str, str]:
    """Rules and procedures as shipped, except that nobody is expected to act on a `weapon`
    incident during the run: no acknowledgement SLA, no step deadlines.

    The bench opens 500 critical incidents per run and no operator acknowledges them; with
    the shipped 30 s SLA and step deadlines the worker's timer escalates every one of them
    30-90 s later (`Escalated`, `StepOverdue`), all delivered to the 100 subscribers in the
    middle of a later run, and each run measured that backlog more than its own detections
    (openings p50 42 -> 80 -> 104 ms over three runs at 1,000/s)."""
    repo = Path(__file__).resolve().parents[1]
    rules = (repo / "domain" / "rules.toml").read_text()
    head, weapon = rules.split("[kinds.weapon]", 1)
    weapon, tail = weapon.split("\n[", 1)
    weapon = re.sub(r"(?m)^sla_ack_s = \d+$", "sla_ack_s = 86400", weapon)
    rules_path = tmp / "rules.toml"
    rules_path.write_text(re.sub(r"(?m)^version = (\d+)$", r"version = 9\1", head, count=1)
                          + "[kinds.weapon]" + weapon + "\n[" + tail)
    procedures = (repo / "domain" / "procedures.toml").read_text()
    head, weapon = procedures.split('id = "weapon"', 1)
    weapon, tail = weapon.split("[[procedures]]", 1)
    weapon = re.sub(r"(?m)^deadline_s = \d+\n", "", weapon)
    procedures_path = tmp / "procedures.toml"
    procedures_path.write_text(head + 'id = "weapon"' + weapon + "[[procedures]]" + tail)
    return {"rules_path": str(rules_path), "procedures_path": str(procedures_path)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="1000,half", help="detections/s, comma-separated; "
                   "`half`: half the measured maximum")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--subscribers", type=int, default=100)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--burst", type=int, default=10_000)
    p.add_argument("--open-every", type=int, default=20,
                   help="every n-th detection comes from a new camera (opens an incident)")
    p.add_argument("--evidence-interval", type=float, default=None,
                   help="KUZET_EVIDENCE_INTERVAL_S (default: the settings' default)")
    p.add_argument("--fetch-wait-ms", type=int, default=10,
                   help="KUZET_KAFKA_FETCH_WAIT_MS (default 10: what `kuzet up` gives the "
                        "embedded broker, which answers a fetch only when its wait ends)")
    p.add_argument("--postgres", metavar="SERVER_URL", default=None,
                   help="the event store on PostgreSQL (a fresh database on this server, "
                        "e.g. postgresql://postgres@127.0.0.1:5432/test) instead of SQLite")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kuzet-e2e-"))
    with EmbeddedBroker(free_port(), tmp / "broker.log") as broker:
        values: dict[str, Any] = {
            "data_dir": str(tmp / "data"), "kafka_url": broker.bootstrap_servers,
            "consumer_group": f"bench-{uuid.uuid4().hex[:8]}", "token_secret": SECRET,
            "api_port": free_port(), "api_host": "127.0.0.1",
            "kafka_fetch_wait_ms": args.fetch_wait_ms, **unwatched(tmp)}
        if args.postgres:
            from kuzet.bench_correlate import _fresh_pg_database

            values.update(event_store_url=_fresh_pg_database(args.postgres),
                          privacy_pepper="bench-pepper-not-a-secret")
        if args.evidence_interval is not None:
            values["evidence_interval_s"] = args.evidence_interval
        settings = load_settings(environ={}, **values)
        conditions = Conditions(
            "e2e_latency", rates=args.rates, seconds=args.seconds, runs=args.runs,
            subscribers=args.subscribers, burst=args.burst, open_every=args.open_every,
            evidence_interval_s=settings.evidence_interval_s,
            fetch_wait_ms=settings.fetch_wait_ms,
            api_poll_interval_s=os.environ.get("KUZET_API_POLL_INTERVAL_S",
                                               settings.api_poll_interval_s),
            store="postgresql" if args.postgres else "sqlite", broker="embedded (Tansu)",
            worker_processes=1,
            weapon="shipped rules without SLA or step deadlines (nobody acknowledges)")
        with LocalStack(settings) as stack:
            stack.spawn("worker-0", ["worker"])
            stack.spawn("api", ["api"])
            wait_until(stack, lambda: _answers(stack.health_url("worker-0", "/readyz")),
                       "the worker's /readyz")
            wait_until(stack, lambda: _answers(
                f"http://127.0.0.1:{settings.api_port}/healthz"), "the API")
            with conditions as c:
                asyncio.run(measure(stack, args, c))


if __name__ == "__main__":
    main()
