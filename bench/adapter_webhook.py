"""Benchmark: webhook adapter deliveries per second to a local receiver, beside raw HTTP POSTs.

    python -m bench.adapter_webhook [--events 3000] [--partitions 4] [--postgres-url URL]

Publishes `--events` CloudEvents envelopes (~700 bytes, like the relay's) onto a fresh topic of
the embedded broker, serves a receiver (Starlette on uvicorn, keep-alive, answers 200) in a
thread, and measures: raw signed POSTs of the same bodies through one httpx client, one at a
time and `--partitions` at a time (the ceiling of this receiver on this machine), then the
adapter from an empty checkpoint until every event is receipted, with its state in SQLite (and
in PostgreSQL when a URL is given). Each delivery is signed, committed with its receipt and
checkpoint in one transaction, and posted one at a time per partition.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.delivery import Sender
from adapters.feed import Feed
from adapters.retry import RetryPolicy
from adapters.signing import Signer, generate, load_private_key
from adapters.state import AdapterState
from adapters.state_postgres import PostgresState
from adapters.state_sqlite import SqliteState
from adapters.webhook import WebhookAdapter
from kuzet.broker import EmbeddedBroker, free_port, wait_for_port
from kuzet.kafka import ensure_topics

MIN, MAX = "0001-01-01T00:00:00.000000+00:00", "9999-12-31T23:59:59.999999+00:00"


def envelope(i: int) -> bytes:
    incident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-{i // 5}"))
    return json.dumps({
        "specversion": "1.0", "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"e-{i}")),
        "type": "kuzet.incident.evidence_added.v1", "source": "urn:kuzet:incidents",
        "subject": incident, "time": f"2026-11-26T10:{i // 600 % 60:02d}:{i // 10 % 60:02d}Z",
        "sequence": str(i + 1), "datacontenttype": "application/json", "kuzetversion": 2,
        "data": {"detection_ids": [str(uuid.uuid4()) for _ in range(4)], "count": 4,
                 "source_ids": ["cam-17", "cam-18"], "first_seen_at": "2026-11-26T10:00:00Z",
                 "last_seen_at": "2026-11-26T10:00:04Z", "max_confidence": 0.93,
                 "snapshots": [], "suppressed": False, "actor": "rule:fight@1"},
    }, sort_keys=True, separators=(",", ":")).encode()


def serve_receiver(port: int) -> uvicorn.Server:
    async def hook(request: Request) -> Response:
        await request.body()
        return Response(b'{"ok":true}', media_type="application/json")

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    wait_for_port("127.0.0.1", port)
    return server


async def publish(bootstrap: str, topic: str, bodies: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(topic, b, key=json.loads(b)["subject"].encode())
                for b in bodies]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def raw_posts(url: str, signer: Signer, bodies: list[bytes], lanes: int) -> float:
    async with httpx.AsyncClient() as client:
        async def lane(part: list[bytes]) -> None:
            for body in part:
                headers = {"Idempotency-Key": "x", **signer.headers(body, int(time.time()))}
                (await client.post(url, content=body, headers=headers)).raise_for_status()
        start = time.perf_counter()
        await asyncio.gather(*(lane(bodies[i::lanes]) for i in range(lanes)))
        return len(bodies) / (time.perf_counter() - start)


async def adapter_rate(state: AdapterState, url: str, signer: Signer, bootstrap: str,
                       topic: str, n: int) -> float:
    await state.setup()
    sender = Sender(url, signer, RetryPolicy(5, 0.01, 0.1), timeout_s=10)
    adapter = WebhookAdapter("bench", state, sender)
    stop = asyncio.Event()
    start = time.perf_counter()
    task = asyncio.create_task(adapter.run(Feed(bootstrap, topic), stop))
    while len(await state.receipts("bench", MIN, MAX)) < n:
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - start
    stop.set()
    await task
    await sender.close()
    await state.close()
    return n / seconds


async def main(n: int, partitions: int, pg_url: str | None) -> None:
    signer = Signer(load_private_key(generate().private_b64))
    bodies = [envelope(i) for i in range(n)]
    port = free_port()
    server = serve_receiver(port)
    url = f"http://127.0.0.1:{port}/hook"
    with EmbeddedBroker(free_port()) as broker, tempfile.TemporaryDirectory() as tmp:
        topic = f"kuzet.agency.police.v1.bench-{uuid.uuid4().hex[:6]}"
        await ensure_topics(broker.bootstrap_servers, [topic], partitions)
        await publish(broker.bootstrap_servers, topic, bodies)
        print(f"{n} events, {len(bodies[0])} bytes each, {partitions} partitions")
        one = await raw_posts(url, signer, bodies, 1)
        print(f"raw signed POSTs, 1 at a time:      {one:8,.0f}/s")
        print(f"raw signed POSTs, {partitions} at a time:      "
              f"{await raw_posts(url, signer, bodies, partitions):8,.0f}/s")
        sqlite = SqliteState(Path(tmp) / "adapters.sqlite")
        rate = await adapter_rate(sqlite, url, signer, broker.bootstrap_servers, topic, n)
        print(f"adapter, SQLite state:              {rate:8,.0f} events/s")
        if pg_url:
            pg = await PostgresState.connect(pg_url)
            rate = await adapter_rate(pg, url, signer, broker.bootstrap_servers, topic, n)
            print(f"adapter, PostgreSQL state:          {rate:8,.0f} events/s")
    server.should_exit = True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--postgres-url", default=None,
                        help="a fresh database for the PostgreSQL state run")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.partitions, args.postgres_url))
