"""Worker start-up benchmark: process start → first detection processed, phase by phase.

    python -P bench/worker_start.py [--runs 3] [--postgres URL] [--session-timeout S]

Each run: a fresh embedded broker with Kuzet's topics and three fire detections of one site
already published (a restart with work waiting), a fresh store; then `kuzet worker` is spawned
with JSON logs at INFO and the clock runs until the incident those detections open is durable
in the store. The phases come from the worker's own log lines (their timestamps, relative to
the spawn): imports, topic metadata, store opened and app built, the worker's service
started, both hops' consumer groups joined, first detection durable. Prints the conditions
and the median of each phase over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from domain.topics import CORRELATION, DETECTIONS, DETECTIONS_DLQ
from kuzet.bench_conditions import Conditions, median
from kuzet.bench_correlate import _EvidenceCounter, _fresh_pg_database, _records
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.commands.core import publish_records
from kuzet.kafka import ensure_topics
from kuzet.settings import load_settings
from kuzet.stack import LocalStack

PHASES = (  # (figure, the log line that ends it)
    ("imports (interpreter, kuzet)", "worker: imports done"),
    ("topic metadata (ensure_topics)", "worker: topics ensured"),
    ("store opened, app built", "worker: store opened, app built"),
    ("worker service started (mode)", "worker: service started"),
    (f"{DETECTIONS} group joined", f"{DETECTIONS} hop: group joined"),
    (f"{CORRELATION} group joined", f"{CORRELATION} hop: group joined"),
)


def _logged(path: Path) -> dict[str, float]:
    """First time (epoch s) each phase line appears in the worker's JSON log."""
    seen: dict[str, float] = {}
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        for _, marker in PHASES:
            if marker not in seen and str(entry.get("event", "")).startswith(marker):
                seen[marker] = datetime.fromisoformat(entry["timestamp"]).timestamp()
    return seen


def one_run(base: Path, store_url: str, session_timeout_s: float = 10.0) -> dict[str, float]:
    data_dir = base / uuid.uuid4().hex[:6]
    data_dir.mkdir()
    with EmbeddedBroker(free_port(), data_dir / "broker.log") as broker:
        bootstrap = broker.bootstrap_servers
        settings = load_settings(environ={}, data_dir=str(data_dir), kafka_url=bootstrap,
                                 event_store_url=store_url, log_format="json", log_level="info",
                                 privacy_pepper="bench-pepper-not-a-secret",
                                 consumer_group=f"start-{uuid.uuid4().hex[:6]}",
                                 consumer_session_timeout_s=session_timeout_s)
        asyncio.run(ensure_topics(bootstrap, [DETECTIONS, CORRELATION, DETECTIONS_DLQ],
                                  settings.kafka_partitions))
        asyncio.run(publish_records(bootstrap, _records(3, 1, datetime.now(UTC)), DETECTIONS))
        durable = _EvidenceCounter(settings)
        with LocalStack(settings) as stack:
            stack.restart = False
            start = time.time()
            stack.spawn("worker", ["worker"])
            while durable() < 3:
                if time.time() - start > 120:
                    raise SystemExit("no incident after 120 s: see the worker's log")
                time.sleep(0.05)
            first = time.time()
            logged = _logged(stack.logs / "worker.log")
        durable.app.close()
    out, before = {}, start
    for name, marker in PHASES:
        at = logged.get(marker, before)
        out[name] = max(0.0, at - before)
        before = max(before, at)
    out["first detection durable (fetch, correlate, store)"] = first - before
    out["total: process start → first detection durable"] = first - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a fresh database per "
                        "run) instead of SQLite")
    parser.add_argument("--session-timeout", type=float, default=10.0,
                        help="KUZET_CONSUMER_SESSION_TIMEOUT_S (the embedded broker holds a "
                        "new group's first join for half of it)")
    args = parser.parse_args()
    with Conditions("worker_start", runs=args.runs, session_timeout_s=args.session_timeout,
                    store="postgresql" if args.postgres else "sqlite") as c, \
            tempfile.TemporaryDirectory() as tmp:
        runs = []
        for _ in range(args.runs):
            runs.append(one_run(Path(tmp), _fresh_pg_database(args.postgres)
                                if args.postgres else "", args.session_timeout))
            print("  run: " + ", ".join(f"{k.split(' ')[0]} {v:.2f}s" for k, v in
                                        runs[-1].items()), flush=True)
        for name in runs[0]:
            values = [r[name] for r in runs]
            c.figure(name, median(values), "s", runs=values)


if __name__ == "__main__":
    main()
