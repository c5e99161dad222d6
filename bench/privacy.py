"""Sealing's cost on the write and read paths: `python bench/privacy.py [N] [PG_URL]`.

N plate-match incidents, each opened as the correlator opens one (track + incident, one
transaction) and then given 4 evidence events with 2 snapshot references each: every event
carries personal values (the worst case; most incidents carry none). The same workload runs on
the production chained store with sealing off (no pepper) and on (a fresh key per plate and
per incident), on SQLite and PostgreSQL; then the whole log is read back (`LogReader`, what
projections and rebuilds use), opening every sealed value.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.detection import Detection
from domain.incident import incident_id_for
from domain.kinds import Kind
from domain.log import LogReader
from kuzet.settings import CHAINED_SQLITE, postgres_env
from tests.helpers import default_rules, det

RULES = default_rules()
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
PEPPER = {"PRIVACY_PEPPER": "bench-pepper-not-a-secret"}


def _evidence(i: int, j: int) -> list[Detection]:
    return [det("plate_match", source=f"cam-{j}-{k}", seconds=j + k / 10,
                attributes={"plate": f"B{i:06d}KZ"},
                snapshot={"uri": f"s3://evidence/{i}/{j}/{k}.jpg",
                          "sha256": f"{i:032x}{2 * j + k:032x}"})  # distinct: none coalesce
            for k in range(2)]


def _workload(app: IncidentApp, n: int) -> tuple[int, float]:
    events, began = 0, time.perf_counter()
    for i in range(n):
        key = f"plate_match:plate=B{i:06d}KZ"
        opened = app.apply(OpenIncident(key, Kind.PLATE_MATCH, 0, incident_id_for(key, 0),
                                        tuple(_evidence(i, 0)), None, T0), T0)
        if opened is None or opened.snapshot is None:
            raise RuntimeError(f"{key} did not open")
        for j in range(1, 5):
            app.add_evidence(opened.snapshot.episode.incident_id, _evidence(i, j),
                             T0 + timedelta(seconds=j))
        events += 3 + 4
    return events, time.perf_counter() - began


def _read(app: IncidentApp) -> tuple[int, float]:
    reader, start, count, began = LogReader(app), 1, 0, time.perf_counter()
    while page := reader.read(start, 2000):
        count += len(page)
        start = page[-1].position + 1
    return count, time.perf_counter() - began


def _run(env: dict[str, str], n: int) -> tuple[float, float]:
    app = IncidentApp(env, RULES)
    try:
        written, write_s = _workload(app, n)
        read, read_s = _read(app)
    finally:
        app.close()
    return written / write_s, read / read_s


def _pg(server: str) -> dict[str, str]:
    import psycopg

    name = f"kuzet_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_env(server.rsplit("/", 1)[0] + "/" + name)


def main(n: int, postgres_url: str | None) -> None:
    print(f"privacy benchmark: {n} plate incidents x 7 events, every event personal")
    with tempfile.TemporaryDirectory() as tmp:
        stores = {"sqlite": lambda: {"PERSISTENCE_MODULE": CHAINED_SQLITE,
                                     "SQLITE_DBNAME": str(Path(tmp) / f"{uuid.uuid4()}.db")}}
        if postgres_url:
            stores["postgresql"] = lambda: _pg(postgres_url)
        for name, fresh in stores.items():
            plain = _run(fresh(), n)
            sealed = _run({**fresh(), **PEPPER}, n)
            for label, (write, read) in (("plain ", plain), ("sealed", sealed)):
                print(f"  {name:<10} {label}  append {write:>8,.0f} events/s   "
                      f"read {read:>9,.0f} events/s")
            print(f"  {name:<10} sealed/plain  append {sealed[0] / plain[0]:.2f}   "
                  f"read {sealed[1] / plain[1]:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000,
         sys.argv[2] if len(sys.argv) > 2 else "postgresql://postgres@127.0.0.1:5432/test")
