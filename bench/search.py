"""Detection search on PostgreSQL: `python bench/search.py [N] [PG_URL] [--queries-only]`.

Fills `detection_archive` (the production layout: day partitions, `archive.store` indexes)
with N synthetic detections generated server-side (generate_series, one INSERT per day, 30
days), 40% vehicles (car/bus/truck/motorcycle/bicycle, 11 colours), 30% with a plate from a
pool of 200,000 (search tags computed here with the bench pepper, joined in server-side),
sealed-size placeholders for plate and snapshot, locations over a 20 x 20 km city. Then, 200
queries each through `ArchiveStore.query` (the SQL every search runs; opening the sealed
values of a page's hits is AES-GCM per value plus cached key lookups, not measured here):

* plate: an exact plate tag, newest 50;
* describe: vehicle + type + colour inside a ~2 km box over one day, newest 50;
* fuzzy plate: the ~700 tags of every plate one edit away, newest 50.

Prints p50/p99 per query, the archive's size per million detections (day partitions; the
plate_sightings index table adds its own), and the fill time (`--queries-only`: the queries
and size on an archive filled before).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg

from archive.plates import plate_tag
from archive.search import PALETTE, SearchFilter
from archive.store import PostgresArchive, open_archive
from kuzet.bench_conditions import Conditions

PEPPER = b"bench-pepper-not-a-secret"
POOL = 200_000
DAYS = 30
END = datetime(2026, 12, 1, tzinfo=UTC)
TYPES = ("car", "bus", "truck", "motorcycle", "bicycle")


def _plate(i: int) -> str:
    return f"{i % 1000:03d}{chr(65 + i // 1000 % 26)}{chr(65 + i // 26000 % 26)}02"


def _fill(url: str, n: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS detection_archive, detection_incidents, "
                     "shadow_incidents, plate_sightings, bench_plates")
    store = open_archive(url)
    assert isinstance(store, PostgresArchive)
    start = END - timedelta(days=DAYS)
    store.ensure_days(start.date() + timedelta(days=d) for d in range(DAYS))
    store.close()
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE UNLOGGED TABLE bench_plates (i int PRIMARY KEY, tag text)")
        with conn.cursor().copy("COPY bench_plates FROM STDIN") as copy:
            for i in range(POOL):
                copy.write_row((i, plate_tag(PEPPER, _plate(i))))
        per_day = n // DAYS
        types = "ARRAY[" + ",".join(f"'{t}'" for t in TYPES) + "]"
        colours = "ARRAY[" + ",".join(f"'{c}'" for c in PALETTE) + "]"
        for d in range(DAYS):
            day = start + timedelta(days=d)
            conn.execute(f"""
              INSERT INTO detection_archive
              SELECT gen_random_uuid(), %s::timestamptz + (g * (86400.0 / %s)) * interval '1 s',
                'cam-' || (g * 7919 %% 50000), 'camera',
                CASE WHEN g %% 10 < 4 THEN 'vehicle' WHEN g %% 10 < 9 THEN 'person'
                     ELSE 'crowd' END,
                0.5 + random() / 2, 'site-' || (g %% 3000),
                43.15 + random() * 0.18, 76.80 + random() * 0.25,
                CASE WHEN g %% 10 < 4 THEN ({types})[1 + g %% 5] END,
                CASE WHEN g %% 10 < 4 THEN ({colours})[1 + (g / 7) %% 11] END,
                CASE WHEN g %% 10 >= 4 THEN ({colours})[1 + (g / 3) %% 11] END,
                CASE WHEN g %% 10 >= 4 THEN ({colours})[1 + (g / 5) %% 11] END,
                p.tag, CASE WHEN p.tag IS NOT NULL THEN md5(p.tag) END,
                CASE WHEN p.tag IS NOT NULL THEN repeat(md5(g::text), 3) END,
                NULL, NULL, md5(g::text || 'k'), repeat(md5(g::text || 's'), 5), '{{"count":1}}'
              FROM generate_series(0::bigint, %s - 1) g
              LEFT JOIN bench_plates p ON g %% 10 < 3 AND p.i = (g * 31 + {d}) %% {POOL}
            """, (day, per_day, per_day))
        conn.execute("INSERT INTO plate_sightings SELECT plate_tag, observed_at, detection_id "
                     "FROM detection_archive WHERE plate_tag IS NOT NULL")
        conn.execute("ANALYZE detection_archive")
        conn.execute("ANALYZE plate_sightings")
    return time.perf_counter() - began


def _time(store: PostgresArchive, filters: list[SearchFilter]) -> list[float]:
    out = []
    for f in filters:
        began = time.perf_counter()
        store.query(f, None, 50)
        out.append((time.perf_counter() - began) * 1000)
    return out


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    url = sys.argv[2] if len(sys.argv) > 2 else "postgresql://postgres@127.0.0.1:5432/test"
    rng = random.Random(3)
    with Conditions("detection search on PostgreSQL", detections=n, days=DAYS,
                    plate_pool=POOL) as c:
        if "--queries-only" not in sys.argv:
            c.figure("fill (server-side generate_series)", _fill(url, n), "s")
        store = open_archive(url)
        assert isinstance(store, PostgresArchive)
        with psycopg.connect(url) as conn:
            size = conn.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i "
                                "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON "
                                "p.oid = i.inhparent WHERE p.relname = 'detection_archive'"
                                ).fetchone()
            extra = conn.execute("SELECT pg_total_relation_size('plate_sightings')").fetchone()
        c.figure("archive size per million detections", (size[0] if size else 0) / n, "MB")
        c.figure("  plus plate_sightings per million", (extra[0] if extra else 0) / n, "MB")
        start = END - timedelta(days=DAYS)

        def day() -> tuple[datetime, datetime]:
            t = start + timedelta(days=rng.randrange(DAYS))
            return t, t + timedelta(days=1)

        plates = [SearchFilter(plate=_plate(rng.randrange(POOL))).checked(PEPPER)
                  for _ in range(200)]
        describe = []
        for _ in range(200):
            lat, lon = 43.15 + rng.random() * 0.16, 76.80 + rng.random() * 0.23
            t1, t2 = day()
            describe.append(SearchFilter(
                kinds=("vehicle",), vehicle_type=rng.choice(TYPES),
                colours=(rng.choice(PALETTE),), start=t1, end=t2,
                polygon=((lat, lon), (lat + 0.02, lon), (lat + 0.02, lon + 0.025),
                         (lat, lon + 0.025))).checked(PEPPER))
        fuzzy = [SearchFilter(plate=_plate(rng.randrange(POOL)), fuzzy=True).checked(PEPPER)
                 for _ in range(200)]
        for name, filters in (("plate", plates), ("colour+type+area+time", describe),
                              ("fuzzy plate", fuzzy)):
            ms = _time(store, filters)
            c.figure(f"{name}: p50", _p(ms, 50), "ms")
            c.figure(f"{name}: p99", _p(ms, 99), "ms")
        c.figure("fuzzy plate: tags per query", statistics.mean(len(f.plate_tags)
                                                               for f in fuzzy), "")
        store.close()


if __name__ == "__main__":
    main()
