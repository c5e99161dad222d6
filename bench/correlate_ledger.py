"""What the correlator's ledger costs (issue 10): `python bench/correlate_ledger.py [N] [PG_URL]`.

Feeds N valid fire detections (200 sites, 3 cameras each, like bench/correlate.py) to the
correlation engine in batches of 2,000 — no broker, so the store path is all that is timed —
once with the ledger (content digests of every detection, candidate hits persisted) and once
with a null ledger (the cost before issue 10), on SQLite and, if a server is given, PostgreSQL.
Fresh store per run; medians of 3 interleaved runs; prints conditions and figures side by side:
wall rate, and this process's CPU per detection (steadier than wall time on a shared machine;
a PostgreSQL server's own CPU is not in it).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from domain.application import IncidentApp
from domain.detection import validate_detection_dict
from domain.rules import load_rules
from kuzet.settings import postgres_env
from streams.engine import CorrelationEngine

RULES = load_rules(resources.files("domain").joinpath("rules.toml").read_text())


class NullLedger:
    """Records nothing: the engine's store path as it was before the ledger."""

    def admit(self, digests: Sequence[Any]) -> set[tuple[str, str]]:
        return set()

    def write_hits(self, hold: Sequence[Any], drop: Sequence[Any]) -> None:
        return None

    def hits(self, keys: Sequence[str]) -> dict[str, list[tuple[bytes, str]]]:
        return {}

    def prune(self, before: datetime) -> None:
        return None


def _detections(n: int, now: datetime) -> list[Any]:
    return [validate_detection_dict({
        "detection_id": str(uuid.uuid4()), "source_id": f"cam-{i % 200}-{i % 3}",
        "source_kind": "camera", "kind": "fire", "confidence": 0.9,
        "observed_at": (now - timedelta(milliseconds=n - i)).isoformat(),
        "site_id": f"site-{i % 200}"}) for i in range(n)]


async def _run(env: dict[str, str], dets: list[Any], ledger: bool,
               now: datetime) -> tuple[float, float]:
    """(detections/s wall, µs of this process's CPU per detection)."""
    app = IncidentApp(env, RULES)
    engine: CorrelationEngine[int] = CorrelationEngine(
        app, RULES, evidence_interval=timedelta(seconds=1),
        **({} if ledger else {"ledger": NullLedger()}))
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(dets), 2000):
        batch = [(d, j) for j, d in enumerate(dets[i:i + 2000], i)]
        await engine.process(0, batch, now + timedelta(seconds=i / 2000))
    await engine.drain(now + timedelta(seconds=60))
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    engine.close()
    app.close()
    return len(dets) / elapsed, used / len(dets) * 1e6


def _env(kind: str, tmp: Path, pg: str | None) -> dict[str, str]:
    if kind == "sqlite":
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(tmp / f"{uuid.uuid4().hex}.sqlite")}
    import psycopg

    name = f"kuzet_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(str(pg), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_env(str(pg).rsplit("/", 1)[0] + "/" + name)


def main(n: int = 20000, pg: str | None = None) -> None:
    print(f"correlation engine with and without the ledger: {n} fire detections, 200 sites, "
          "batches of 2000, no broker; medians of 3 interleaved runs, fresh store per run")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ["sqlite", *(["postgresql"] if pg else [])]:
            runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            for _ in range(3):  # interleaved, so load drift on a shared machine hits both
                for ledger in (False, True):
                    now = datetime.now(UTC)
                    runs[ledger].append(asyncio.run(_run(_env(kind, Path(tmp), pg),
                                                         _detections(n, now), ledger, now)))
            rate = {k: statistics.median(r for r, _ in v) for k, v in runs.items()}
            cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
            print(f"  {kind:<11} null ledger {rate[False]:>7,.0f} det/s {cpu[False]:>5.0f} µs "
                  f"CPU/det   ledger {rate[True]:>7,.0f} det/s {cpu[True]:>5.0f} µs CPU/det   "
                  f"wall ratio {rate[True] / rate[False]:.2f}")

if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000,
         sys.argv[2] if len(sys.argv) > 2 else None)
