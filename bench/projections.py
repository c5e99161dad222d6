"""Benchmark: view rebuild rates beside raw/decoded log reads; relay beside raw aiokafka produce.

    python -m bench.projections [--incidents 4000] [--sealed] [--postgres-url postgresql://postgres@127.0.0.1/test]

Fills a fresh SQLite event store with incidents (Opened, EvidenceAdded, Acknowledged, Assigned,
Resolved each; `--sealed`: the production store, hash chain and personal values sealed), then
in one run measures, back to back: the notification log read raw, decoded by the mapper
(`LogReader`, the reference) and decoded from the bytes (`FastLogReader`, what Kuzet runs);
each view's rebuild with each reader (SQLite read-model store, and PostgreSQL when a URL is
given); and the relay (fast reader, stored form) beside raw aiokafka produce of exactly the
messages it sent (prebuilt: no log reading, no encoding) on the embedded broker.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib import resources
from pathlib import Path

from domain.application import IncidentApp
from domain.incident import Incident
from domain.log import LogReader, NotificationSource
from domain.routing import load_sites
from domain.rules import load_rules
from eventstore.fastlog import FastLogReader
from projections import ProjectionRunner, SqliteStore, all_views
from projections.store import ViewStore

Reader = type[LogReader] | type[FastLogReader]
READERS: dict[str, Reader] = {"mapper": LogReader, "fast": FastLogReader}

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
KINDS = ["fire", "face_match", "garbage_overflow", "crowd", "plate_match", "road_defect"]


def fill(app: IncidentApp, n: int) -> int:
    for i in range(n):
        t = T0 + timedelta(seconds=i)
        kind = KINDS[i % len(KINDS)]
        inc = Incident(incident_key=f"{kind}:bench-{i}", episode=0, kind=kind, severity=2,
                       site_id=f"site-{i % 50}", location=None, source_ids=[f"cam-{i % 300}"],
                       detection_ids=[f"d-{i}-0"], first_seen_at=t, last_seen_at=t,
                       sla_due_at=t + timedelta(minutes=5), agencies=["situation_centre"],
                       subject={"plate": f"P{i}"} if kind == "plate_match" else {},
                       linked_to=None, rule="rule:bench@1", actor="rule:bench@1", timestamp=t,
                       snapshots=[])
        inc.add_evidence(detection_ids=[f"d-{i}-1"], source_ids=["cam-x"], count=1,
                         first_seen_at=t, last_seen_at=t, max_confidence=0.9, snapshots=[],
                         suppressed=False, actor="rule:bench@1", at=t)
        inc.acknowledge(actor="operator:o", at=t)
        inc.assign(assignee="o", actor="operator:o", at=t)
        inc.resolve(resolution="ok", actor="operator:o", at=t + timedelta(minutes=3))
        app.save(inc)
    return int(app.recorder.max_notification_id() or 0)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f} events/s ({seconds:.2f}s)"


def read_all(reader: NotificationSource, head: int) -> None:
    start = 1
    while start <= head:
        start = reader.read(start, 10000)[-1].position + 1


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The shortest of `runs` timings of `work` (a read is short: one run is mostly noise)."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times)


def read_raw(app: IncidentApp, head: int) -> None:
    start = 1
    while start <= head:
        start = app.recorder.select_notifications(start, 10000)[-1].id + 1


def read_fresh(reader: Reader, app: IncidentApp, head: int) -> None:
    read_all(reader(app), head)


def read_rates(app: IncidentApp, head: int) -> None:
    """Best of three reads each: raw notifications, then each reader from a fresh instance."""
    print(f"log read raw                 {rate(head, best_of(3, lambda: read_raw(app, head)))}")
    for label, reader in READERS.items():
        seconds = best_of(3, partial(read_fresh, reader, app, head))
        print(f"log read decoded ({label:6})    {rate(head, seconds)}")


async def rebuild_rates(app: IncidentApp, store: ViewStore, label: str) -> None:
    views = all_views(load_sites({}), 5)
    try:
        for reader_label, reader in READERS.items():
            runner = ProjectionRunner(reader(app), store, views, batch=2000)
            await runner.setup()
            for name in runner.views:
                r = await runner.rebuild(name)
                print(f"rebuild {label:8} {reader_label:6} {name:10} "
                      f"{rate(r.position, r.seconds)}  rows={r.rows}")
    finally:
        await store.close()


async def relay_rates(app: IncidentApp, head: int, tmp: Path) -> None:
    from aiokafka import AIOKafkaProducer

    from kuzet.broker import EmbeddedBroker, free_port
    from streams.relay import AiokafkaPublisher, FilePosition, Relay, RelayConfig

    with EmbeddedBroker(free_port(), log_path=tmp / "tansu.log") as broker:
        reader = FastLogReader(app, stored_form=True)  # what `kuzet relay` runs
        publisher = AiokafkaPublisher(broker.bootstrap_servers)
        await publisher.start()
        relay = Relay(reader, reader, publisher, FilePosition(tmp / "relay.json"),
                      RelayConfig(batch=2000, topic_suffix=".bench"))
        began, sent = time.perf_counter(), 0
        while n := await relay.step():
            sent += n
        relay_s = time.perf_counter() - began
        await publisher.stop()
        # The very messages the relay sent (same topics, keys, values), built beforehand.
        builder = Relay(reader, reader, publisher, FilePosition(tmp / "unused.json"),
                        RelayConfig(topic_suffix=".raw"))
        messages = [m for e in reader.read(1, head) for m in builder.messages(e)]
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all",
                                    linger_ms=5, max_batch_size=1 << 20)
        await producer.start()
        began = time.perf_counter()
        for i in range(0, len(messages), 4000):
            futures = [await producer.send(m.topic, m.value, key=m.key)
                       for m in messages[i:i + 4000]]
            await asyncio.gather(*futures)
        raw_s = time.perf_counter() - began
        await producer.stop()
    print(f"relay (full + agency topics, {sent} events) {rate(sent, relay_s)}")
    print(f"raw aiokafka produce of its {len(messages)} messages {rate(head, raw_s)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=4000)
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--sealed", action="store_true",
                        help="the production store: hash chain, personal values sealed")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kuzet-bench-"))
    rules = load_rules(resources.files("domain").joinpath("rules.toml").read_text())
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(tmp / "events.sqlite")}
    if args.sealed:
        env |= {"PERSISTENCE_MODULE": "eventstore.store_sqlite:ChainedSQLiteFactory",
                "PRIVACY_PEPPER": "bench-pepper-not-a-secret"}
    app = IncidentApp(env, rules)
    head = fill(app, args.incidents)
    print(f"{head} events in the SQLite event store{' (chained, sealed)' if args.sealed else ''}")
    read_rates(app, head)
    asyncio.run(rebuild_rates(app, SqliteStore(tmp / "views.sqlite"), "sqlite"))
    if args.postgres_url:
        from projections.postgres_store import PostgresStore

        async def pg() -> None:
            await rebuild_rates(app, await PostgresStore.connect(args.postgres_url), "postgres")
        asyncio.run(pg())
    asyncio.run(relay_rates(app, head, tmp))


if __name__ == "__main__":
    main()
