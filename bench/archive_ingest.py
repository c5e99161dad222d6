"""Archive ingest rate: `python bench/archive_ingest.py [N] [PG_URL]`.

N detections per run (30% vehicles with a plate from a pool of 5,000, the rest persons and
vehicles without one; every detection has a snapshot), parsed, sealed and written by the
archiver (`archive.ingest.Archiver.take`) in batches of 5,000, as `kuzet archive run` does
after each fetch: on SQLite (a temporary folder) and, given a URL, on PostgreSQL (its
`detection_archive` tables are dropped first). Three runs each, fresh detection ids; the plate
keys are created in the first run and reused after (a city's plates repeat). Compare with the
correlator's rate (`bench/correlate.py`: ~4,000-7,700 detections/s here).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import psycopg

from archive.ingest import Archiver
from archive.store import open_archive
from domain.application import IncidentApp
from domain.rules import load_rules
from eventstore.sealing import Sealer
from kuzet.bench_conditions import Conditions, median
from kuzet.settings import CHAINED_SQLITE, postgres_env

PEPPER = "bench-pepper-not-a-secret"
BATCH = 5000
T0 = datetime.now(UTC) - timedelta(hours=2)


def _records(n: int, run: int) -> list[bytes]:
    out = []
    for i in range(n):
        attrs: dict[str, object] = {"class": "car", "colour": "red"} if i % 2 else {
            "upper_colour": "blue", "lower_colour": "black"}
        if i % 10 < 3:
            attrs["plate"] = f"A{i % 5000:04d}KZ02"
        out.append(json.dumps({
            "detection_id": str(uuid.uuid4()), "source_id": f"cam-{i % 500}",
            "source_kind": "camera", "kind": "vehicle" if i % 2 or i % 10 < 3 else "person",
            "confidence": 0.8, "observed_at": (T0 + timedelta(milliseconds=i)).isoformat(),
            "location": {"lat": 43.2, "lon": 76.9}, "attributes": attrs,
            "snapshot": {"uri": f"s3://snaps/{run}/{i}.jpg", "sha256": "0" * 64}}).encode())
    return out


def _bench(name: str, env: dict[str, str], url: str, n: int, c: Conditions) -> None:
    rules = load_rules(resources.files("domain").joinpath("rules.toml").read_text())
    app = IncidentApp({**env, "PRIVACY_PEPPER": PEPPER}, rules)
    store = open_archive(url)
    archiver = Archiver(store, Sealer(app.factory.keystore), PEPPER.encode())  # type: ignore[attr-defined]
    rates = []
    for run in range(3):
        records = _records(n, run)
        began = time.perf_counter()
        for i in range(0, n, BATCH):
            archiver.take(records[i:i + BATCH])
        rates.append(n / (time.perf_counter() - began))
    c.figure(f"{name}: detections archived per second", median(rates), "det/s", rates)
    store.close()
    app.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    pg = sys.argv[2] if len(sys.argv) > 2 else ""
    with Conditions("archive ingest", detections=n, batch=BATCH) as c, \
            tempfile.TemporaryDirectory() as tmp:
        _bench("SQLite", {"PERSISTENCE_MODULE": CHAINED_SQLITE,
                          "SQLITE_DBNAME": str(Path(tmp) / "events.sqlite")},
               str(Path(tmp) / "archive.sqlite"), n, c)
        if pg:
            with psycopg.connect(pg, autocommit=True) as conn:
                conn.execute("DROP TABLE IF EXISTS detection_archive, detection_incidents")
            _bench("PostgreSQL", postgres_env(pg), pg, n, c)


if __name__ == "__main__":
    main()
