"""Benchmark: raw aiokafka consume vs detections/s through the full correlator, in one run.

Publishes N ~300-byte detections to a fresh embedded broker and measures, side by side:
  (a) raw aiokafka consume of that topic (no decoding),
  (b) the full correlator (`kuzet worker`: route + correlate agents, validation, correlation,
      coalesced evidence) into the SQLite store and, if a server is given, PostgreSQL —
      from the first publish until every detection is durable as incident evidence.
Prints the figures and their ratios. Run: `python bench/correlate.py` or `kuzet bench correlate`.

`--kafka HOST:PORT,...` runs the same bench on an existing Kafka cluster instead (e.g. the
3-broker test cluster: `python -m tests.cluster.kafka_cluster` prints its bootstrap servers):
Kuzet's topics there are deleted before each run, then created by the stack (replication 3,
`min.insync.replicas` 2, idempotent `acks=all` producers). `--runs 3` prints each run and the
median.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.topics import DETECTIONS
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.commands.core import publish_records
from kuzet.settings import Settings, load_settings
from kuzet.stack import LocalStack
from kuzet.wiring import build_incident_app

__all__ = ["main"]


KINDS = {"fire": "site", "fight": "source"}
"""The kinds `--kinds` may name, with their rule group's key (domain/rules.toml): `fire`
records carry a site (re-keyed by site: both hops); `fight` records carry none, so their
correlation key lives in the source's partition (the route hop correlates them directly)."""


def _records(n: int, sites: int, now: datetime, kind: str = "fire"
             ) -> list[tuple[bytes | None, bytes]]:
    out: list[tuple[bytes | None, bytes]] = []
    for i in range(n):
        site, source = i % sites, f"cam-{i % sites}-{i % 3}"
        rec = {
            "detection_id": str(uuid.uuid4()), "source_id": source,
            "source_kind": "camera", "kind": kind, "confidence": 0.9,
            "observed_at": (now + timedelta(milliseconds=i)).isoformat(),
            "location": {"lat": 43.25, "lon": 76.95},
            "bbox": [0.1, 0.2, 0.3, 0.4], "model": {"name": f"{kind}-yolo", "version": "1.0"},
        }
        if KINDS[kind] == "site":
            rec["site_id"] = f"site-{site}"
        out.append((source.encode(), json.dumps(rec).encode()))
    return out


RAW_TOPIC = "bench.raw-detections"


async def _raw_consume(bootstrap: str, n: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(RAW_TOPIC, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", fetch_max_bytes=16 << 20,
                                max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    seen, start = 0, time.perf_counter()
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
            seen += sum(len(v) for v in batch.values())
    finally:
        await consumer.stop()
    return n / (time.perf_counter() - start)


class _EvidenceCounter:
    """Counts detection ids made durable, reading only new notifications each time."""

    def __init__(self, settings: Settings) -> None:
        self.app = build_incident_app(settings)
        self.position = 0
        self.total = 0

    def __call__(self) -> int:
        page = self.app.recorder.select_notifications(self.position + 1, 10000)
        for n in page:
            if n.topic.endswith(("Incident.Opened", "Incident.EvidenceAdded")):
                self.total += len(json.loads(n.state)["detection_ids"])
            self.position = n.id
        return self.total


@contextlib.contextmanager
def _broker(data_dir: Path, kafka: str | None) -> Iterator[str]:
    """A fresh embedded broker, or the cluster at `kafka` with Kuzet's topics deleted."""
    if kafka is None:
        with EmbeddedBroker(free_port(), data_dir / "broker.log") as broker:
            yield broker.bootstrap_servers
        return
    from kuzet.broker import kuzet_topics
    from kuzet.kafka import delete_topics

    asyncio.run(delete_topics(kafka, [*kuzet_topics(), RAW_TOPIC]))
    yield kafka


def _correlator(base: Path, store_url: str, n: int, sites: int, kafka: str | None,
                processes: int = 1, profile: Path | None = None, kind: str = "fire"
                ) -> tuple[float, float, int]:
    """(detections/s, the worker's CPU µs per detection, records re-keyed to the correlation
    topic): a fresh broker (or emptied topics) and a fresh store per run, so runs never see
    each other's records."""
    data_dir = base / uuid.uuid4().hex[:6]
    data_dir.mkdir()
    with _broker(data_dir, kafka) as bootstrap:
        settings = load_settings(environ={}, data_dir=str(data_dir), kafka_url=bootstrap,
                                 event_store_url=store_url, evidence_interval_s=1.0,
                                 privacy_pepper="bench-pepper-not-a-secret",
                                 consumer_group=f"bench-{uuid.uuid4().hex[:6]}")
        return _timed_run(settings, bootstrap, n, sites, processes, profile, kind)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of `pid` and its live children (Linux /proc)."""
    import os

    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *map(int, children.read_text().split())] if children.exists() else [pid]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@contextlib.contextmanager
def _py_spy(pid: int, out: Path | None) -> Iterator[None]:
    """`py-spy record` of the worker (and its children) while the timed detections run, as
    collapsed stacks (`--format raw`: one `frame;frame;... count` line per stack) in `out`."""
    if out is None:
        yield
        return
    import shutil
    import signal
    import subprocess

    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
    spy = subprocess.Popen([exe, "record", "--pid", str(pid), "--subprocesses",  # noqa: S603
                            "--format", "raw", "--rate", "250", "--output", str(out)])
    time.sleep(1.0)  # py-spy attaches before the timed load starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


async def _topic_size(bootstrap: str, topic: str) -> int:
    """Records `topic` holds (read, not end offsets: Tansu's can fall short)."""
    from kuzet.kafka import read_topic

    return len(await read_topic(bootstrap, topic))


def _timed_run(settings: Settings, bootstrap: str, n: int, sites: int,
               processes: int = 1, profile: Path | None = None, kind: str = "fire"
               ) -> tuple[float, float, int]:
    with LocalStack(settings) as stack:
        proc = stack.spawn("worker", ["worker", "--processes", str(processes)])
        # every key opens its incident: 3 hits per site, 2 per source (600 sources)
        warm = _records(3 * sites * (2 if KINDS[kind] == "source" else 1), sites,
                        datetime.now(UTC), kind)
        asyncio.run(publish_records(bootstrap, warm, DETECTIONS))
        durable = _EvidenceCounter(settings)
        while durable() < len(warm):  # the worker has joined and is warm
            time.sleep(0.5)
        records = _records(n, sites, datetime.now(UTC), kind)
        with _py_spy(proc.pid, profile):
            cpu, start = _cpu_s(proc.pid), time.perf_counter()
            asyncio.run(publish_records(bootstrap, records, DETECTIONS))
            while durable() < len(warm) + n:
                time.sleep(0.2)
            elapsed, cpu = time.perf_counter() - start, _cpu_s(proc.pid) - cpu
        durable.app.close()
        from domain.topics import CORRELATION

        return n / elapsed, 1e6 * cpu / n, asyncio.run(_topic_size(bootstrap, CORRELATION))


def _fresh_pg_database(server_url: str) -> str:
    import psycopg

    name = f"kuzet_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def _raw(tmp: Path, n: int, sites: int, kafka: str | None) -> float:
    with _broker(tmp, kafka) as bootstrap:
        from kuzet.kafka import ensure_topics

        asyncio.run(ensure_topics(bootstrap, [RAW_TOPIC], 4))
        asyncio.run(publish_records(bootstrap, _records(n, sites, datetime.now(UTC)),
                                    RAW_TOPIC))
        return asyncio.run(_raw_consume(bootstrap, n))


def main(n: int = 100000, sites: int = 200, postgres_url: str | None = None,
         kafka: str | None = None, runs: int = 1, sqlite: bool = True,
         processes: int = 1, profile: Path | None = None,
         kinds: tuple[str, ...] = ("fire",)) -> None:
    """`kinds`: one set of correlator runs per kind (`KINDS`), each reported with the path
    its detections took (how many the route hop re-keyed to the correlation topic).
    `profile`: write a py-spy profile of each correlator run's worker (collapsed stacks,
    `<profile>.<store>.<run>.txt`; summarise with `python -m kuzet.bench_correlate FILE
    [CPU_µs_PER_DETECTION]`)."""
    from kuzet.bench_conditions import Conditions, median

    where = f"Kafka cluster at {kafka}" if kafka else "a fresh embedded broker per run"
    with Conditions("correlate", n=n, sites=sites, partitions=4, worker_processes=processes,
                    broker=where, kinds=",".join(kinds),
                    runs=runs) as c, tempfile.TemporaryDirectory() as tmp:
        raw = [_raw(Path(tmp), n, sites, kafka) for _ in range(runs)]
        print(f"  raw aiokafka consume runs: {', '.join(f'{r:,.0f}' for r in raw)} msg/s",
              flush=True)
        c.figure("(a) raw aiokafka consume", median(raw), "msg/s", runs=raw)
        stores = {"sqlite": ""} if sqlite else {}
        if postgres_url:
            stores["postgresql"] = postgres_url
        for kind, (name, url) in ((k, s) for k in kinds for s in stores.items()):
            label = f"{name}, {kind} ({KINDS[kind]}-keyed)"
            done = [_correlator(Path(tmp), _fresh_pg_database(url) if url else "", n, sites,
                                kafka, processes,
                                profile and profile.with_name(
                                    f"{profile.name}.{name}.{kind}.{i}.txt"), kind)
                    for i in range(runs)]
            rates, cpus = [r for r, _, _ in done], [u for _, u, _ in done]
            rekeyed = [k for _, _, k in done]
            path = ("route hop → correlation topic → correlate hop" if min(rekeyed) >= n
                    else "correlated by the route hop directly" if max(rekeyed) == 0
                    else "mixed")
            print(f"  correlator → {label} runs: {', '.join(f'{r:,.0f}' for r in rates)} "
                  f"det/s; path: {path} (re-keyed per run: {rekeyed} of "
                  f"{n} timed + warm-up)", flush=True)
            c.figure(f"(b) correlator → {label}", median(rates), "detections/s", runs=rates)
            c.figure(f"    worker CPU ({label})", median(cpus), "µs/detection", runs=cpus)
            c.figure(f"    {label} vs raw consume", 100 * median(rates) / median(raw),
                     "% (goal: 20 %)")


_IDLE = (".select (selectors.py)", "_worker (concurrent/futures/thread.py)",
         ".wait (threading.py)")
"""Leaf frames of threads that wait (py-spy's idle detection misses some of these)."""


def summarise(path: Path, top: int = 30, cpu_us: float | None = None) -> str:
    """The `top` functions of a py-spy `--format raw` profile by self and by cumulative share
    of the busy samples (waiting leaves `_IDLE` left out; line numbers folded into their
    function). With `cpu_us` (the run's measured worker CPU µs per detection) each share is
    also shown as ≈ µs per detection (share * cpu_us: an attribution, not a timing)."""
    import re
    from collections import Counter

    self_, cum, total, idle = Counter[str](), Counter[str](), 0, 0
    line_no = re.compile(r":\d+\)$")
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [line_no.sub(")", f) for f in stack.split(";")]
        if frames[-1].endswith(_IDLE):
            idle += int(count)
            continue
        total += int(count)
        self_[frames[-1]] += int(count)
        for f in set(frames):
            cum[f] += int(count)
    out = [f"{path.name}: {total} busy samples ({idle} waiting left out)"]
    for title, counter in (("self", self_), ("cumulative", cum)):
        out.append(f"  top {top} by {title} share:")
        for f, c in counter.most_common(top):
            us = f"  ≈{c / total * cpu_us:6.1f} µs/det" if cpu_us else ""
            out.append(f"  {100 * c / total:5.1f} %{us}  {f}")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    import sys

    if len(sys.argv) > 1:  # python -m kuzet.bench_correlate PROFILE [CPU_µs_PER_DETECTION]
        print(summarise(Path(sys.argv[1]),
                        cpu_us=float(sys.argv[2]) if len(sys.argv) > 2 else None))
    else:
        main()
