"""The archive tables on SQLite (local) and PostgreSQL (production).

    detection_archive   one row per detection (`archive.rows.COLUMNS`), key detection_id
                        (on PostgreSQL (observed_at, detection_id): the partition key must be
                        in it, and a detection's observed_at never changes). PostgreSQL:
                        partitioned by range of observed_at, one partition per UTC day
                        (`detection_archive_pYYYYMMDD`, created on first write), retention
                        drops whole partitions; SQLite: one table, retention deletes rows.
    plate_sightings     (PostgreSQL) plate_tag, observed_at, detection_id of every row with a
                        plate tag: one index over all days for plate search (retention and
                        shreds delete from it too).
    detection_incidents (detection_id, incident_id): which incident a detection is evidence
                        of, from the relayed incident events.
    shadow_incidents    what `kuzet worker --shadow CANDIDATE.toml` would have opened: incident
                        id, kind, episode, opened_at, the opening detection ids, time to open,
                        the candidate's rules version. Only `kuzet rules diff-shadow` reads it:
                        no view, relay, topic or subscription does.

Writes are idempotent (a redelivered detection is dropped by its key). PostgreSQL ingests
with COPY into a temporary table, then one INSERT ... ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from archive.errors import ArchiveStoreError, RowRefused
from archive.rows import COLUMNS, ArchiveRow
from archive.search import SearchFilter
from domain.backtest import Opened

__all__ = ["ArchiveStore", "PostgresArchive", "SQLiteArchive", "open_archive"]

_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('kuzet.schema'))"
_INDEXES = [
    "CREATE INDEX IF NOT EXISTS detection_archive_plate ON detection_archive (plate_tag, "
    "observed_at) WHERE plate_tag IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS detection_archive_describe ON detection_archive (kind, "
    "vehicle_type, colour, observed_at)",
    "CREATE INDEX IF NOT EXISTS detection_archive_source ON detection_archive (source_id, "
    "observed_at)",
    "CREATE INDEX IF NOT EXISTS detection_archive_plate_key ON detection_archive (plate_key) "
    "WHERE plate_key IS NOT NULL",
]


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


class ArchiveStore:
    """What both databases share: the search query, built with `?` placeholders."""

    mark = "?"

    def _sql(self, statement: str) -> str:
        return statement if self.mark == "?" else statement.replace("?", "%s")

    def _time(self, instant: datetime) -> Any:
        return instant

    def _where(self, f: SearchFilter, after: tuple[datetime, str] | None
               ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []

        def any_of(column: str, values: Sequence[Any]) -> None:
            clause, bound = self._any(f"a.{column}", values)
            clauses.append(clause)
            params.extend(bound)

        if f.kinds:
            any_of("kind", f.kinds)
        for column, value in (("vehicle_type", f.vehicle_type), ("upper_colour", f.upper_colour),
                              ("lower_colour", f.lower_colour)):
            if value is not None:
                any_of(column, [value])
        if f.colours:
            any_of("colour", f.colours)
        if f.plate is not None:
            any_of("plate_tag", f.plate_tags)
        if f.cameras:
            any_of("source_id", f.cameras)
        if f.sites is not None:
            any_of("site_id", f.sites or ("",))
        box = f.bbox()
        if box is not None:
            clauses.append("a.lat BETWEEN ? AND ? AND a.lon BETWEEN ? AND ?")
            params.extend(box)
        if f.start is not None:
            clauses.append("a.observed_at >= ?")
            params.append(self._time(f.start))
        if f.end is not None:
            clauses.append("a.observed_at < ?")
            params.append(self._time(f.end))
        if after is not None:
            clauses.append(self._after())
            params.extend([self._time(after[0]), after[1]])
        return (" AND ".join(clauses) or "TRUE"), params

    def _after(self) -> str:
        return "(a.observed_at, a.detection_id) < (?, ?)"

    def _any(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)

    def _select(self, where: str, by_plate: bool = False) -> str:
        """The page query. With a plate, PostgreSQL first gathers the plate's sightings from
        `plate_sightings` (one index for all days: a fuzzy plate's ~700 tags are ~700 probes,
        not ~700 per day's partition), then reads those rows; left to itself it walks every
        day's primary key backwards, expecting a tag every few hundred rows."""
        columns = ", ".join(f"a.{c}" for c in COLUMNS)
        incident = ("(SELECT min(i.incident_id) FROM detection_incidents i WHERE "
                    "i.detection_id = a.detection_id) AS incident_id")
        if by_plate and self.mark != "?":
            return (f"WITH m AS MATERIALIZED (SELECT observed_at, detection_id FROM "  # noqa: S608 (constants)
                    "plate_sightings WHERE plate_tag = ANY(?)) "
                    f"SELECT {columns}, {incident} FROM m CROSS JOIN LATERAL (SELECT * FROM "
                    "detection_archive d WHERE d.observed_at = m.observed_at AND "
                    "d.detection_id = m.detection_id) a "
                    f"WHERE {where} ORDER BY a.observed_at DESC, a.detection_id DESC LIMIT ?")
        return (f"SELECT {columns}, {incident} FROM detection_archive a WHERE {where} "  # noqa: S608 (constants)
                "ORDER BY a.observed_at DESC, a.detection_id DESC LIMIT ?")

    # --- the shadow worker's incidents (never routed, relayed, projected or shown) ---------

    _conn: Any

    def _create_shadow(self, cursor: Any) -> None:
        ts = "TEXT" if self.mark == "?" else "timestamptz"
        cursor.execute(f"CREATE TABLE IF NOT EXISTS shadow_incidents (incident_id TEXT PRIMARY "
                       f"KEY, kind TEXT NOT NULL, episode INTEGER NOT NULL, opened_at {ts} NOT "
                       "NULL, detection_ids TEXT NOT NULL, time_to_open_s REAL NOT NULL, "
                       "rules_version INTEGER NOT NULL)")

    def record_shadow(self, opened: Sequence[Opened], rules_version: int) -> int:
        """Store what the shadow correlator opened (a repeat of an incident id is dropped)."""
        rows = [(str(o.incident_id), o.kind, o.episode, self._time(o.at),
                 json.dumps(o.detection_ids), o.time_to_open.total_seconds(), rules_version)
                for o in opened]
        if not rows:
            return 0
        with contextlib.closing(self._conn.cursor()) as cur:
            cur.executemany(self._sql("INSERT INTO shadow_incidents VALUES (?, ?, ?, ?, ?, ?, ?) "
                                      "ON CONFLICT DO NOTHING"), rows)
            return int(cur.rowcount)

    def shadow_between(self, start: datetime, end: datetime) -> list[Opened]:
        with contextlib.closing(self._conn.cursor()) as cur:
            cur.execute(self._sql("SELECT incident_id, kind, episode, opened_at, detection_ids, "
                                  "time_to_open_s FROM shadow_incidents WHERE opened_at >= ? AND "
                                  "opened_at < ? ORDER BY opened_at"),
                        (self._time(start), self._time(end)))
            rows = cur.fetchall()
        out = []
        for row in rows:
            r = tuple(row.values()) if isinstance(row, dict) else tuple(row)
            at = r[3] if isinstance(r[3], datetime) else datetime.fromisoformat(r[3])
            out.append(Opened("", r[1], int(r[2]), uuid.UUID(r[0]), at,
                              tuple(json.loads(r[4])), timedelta(seconds=float(r[5]))))
        return out

    # implemented per database
    def create_tables(self) -> None:
        raise NotImplementedError

    def write(self, rows: Sequence[ArchiveRow]) -> int:
        raise NotImplementedError

    def link(self, pairs: Iterable[tuple[str, str]]) -> int:
        raise NotImplementedError

    def query(self, f: SearchFilter, after: tuple[datetime, str] | None,
              limit: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    def rows_between(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def drop_before(self, cutoff: datetime) -> int:
        raise NotImplementedError

    def forget_tags(self, key_ids: Sequence[str]) -> int:
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SQLiteArchive(ArchiveStore):
    """The local archive: one SQLite file (WAL), times as fixed-width UTC text."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection = sqlite3.connect(path, isolation_level=None, timeout=30,
                                     check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA secure_delete=ON")

    def _time(self, instant: datetime) -> Any:
        return _iso(instant)

    def create_tables(self) -> None:
        cols = ", ".join(f"{c} {'REAL' if c in {'confidence', 'lat', 'lon'} else 'TEXT'}"
                         for c in COLUMNS)
        with self._tx() as c:
            c.execute(f"CREATE TABLE IF NOT EXISTS detection_archive ({cols}, "
                      "PRIMARY KEY (detection_id))")
            c.execute("CREATE TABLE IF NOT EXISTS detection_incidents (detection_id TEXT NOT "
                      "NULL, incident_id TEXT NOT NULL, PRIMARY KEY (detection_id, incident_id))")
            for statement in _INDEXES:
                c.execute(statement)
            self._create_shadow(c)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        c = self._conn.cursor()
        try:
            c.execute("BEGIN IMMEDIATE")
            yield c
            c.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            raise

    def write(self, rows: Sequence[ArchiveRow]) -> int:
        marks = ", ".join("?" * len(COLUMNS))
        with self._tx() as c:
            before = self._conn.total_changes
            c.executemany(f"INSERT INTO detection_archive ({', '.join(COLUMNS)}) VALUES "  # noqa: S608
                          f"({marks}) ON CONFLICT DO NOTHING",
                          [(*r.values()[:1], _iso(r.observed_at), *r.values()[2:])
                           for r in rows])
            return self._conn.total_changes - before

    def link(self, pairs: Iterable[tuple[str, str]]) -> int:
        with self._tx() as c:
            before = self._conn.total_changes
            c.executemany("INSERT INTO detection_incidents VALUES (?, ?) ON CONFLICT DO "
                          "NOTHING", list(pairs))
            return self._conn.total_changes - before

    def query(self, f: SearchFilter, after: tuple[datetime, str] | None,
              limit: int) -> list[dict[str, Any]]:
        where, params = self._where(f, after)
        rows = self._conn.execute(self._select(where), [*params, limit]).fetchall()
        return [_sqlite_row(r) for r in rows]

    def rows_between(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        cursor = self._conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM detection_archive WHERE observed_at >= ? AND "  # noqa: S608
            "observed_at < ? ORDER BY observed_at, detection_id", (_iso(start), _iso(end)))
        for r in cursor:
            yield _sqlite_row(r)

    def drop_before(self, cutoff: datetime) -> int:
        with self._tx() as c:
            c.execute("DELETE FROM detection_archive WHERE observed_at < ?", (_iso(cutoff),))
            return int(c.rowcount)

    def forget_tags(self, key_ids: Sequence[str]) -> int:
        done = 0
        for start in range(0, len(key_ids), 500):
            chunk = list(key_ids[start:start + 500])
            with self._tx() as c:
                c.execute(f"UPDATE detection_archive SET plate_tag = NULL WHERE plate_key IN "  # noqa: S608
                          f"({', '.join('?' * len(chunk))}) AND plate_tag IS NOT NULL", chunk)
                done += int(c.rowcount)
        return done

    def count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM detection_archive").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


def _sqlite_row(r: sqlite3.Row) -> dict[str, Any]:
    out = dict(r)
    out["observed_at"] = datetime.fromisoformat(out["observed_at"])
    return out


class PostgresArchive(ArchiveStore):
    """The production archive: a table partitioned by day, ingest by COPY (psycopg 3)."""

    mark = "%s"

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.rows import dict_row

        try:
            self._conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
            self._conn.execute("SET jit = off")  # compiling costs more than these queries
        except psycopg.Error as exc:
            raise ArchiveStoreError(f"archive database unreachable: {exc}".splitlines()[0]
                                    ) from None
        self._days: set[date] = set()

    def _after(self) -> str:
        return "(a.observed_at, a.detection_id) < (?, ?::uuid)"

    def _any(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """One array parameter: a fuzzy plate's ~700 tags plan in one step, not 700."""
        return f"{column} = ANY(?)", [list(values)]

    def create_tables(self) -> None:
        types = {"detection_id": "uuid NOT NULL", "observed_at": "timestamptz NOT NULL",
                 "confidence": "real", "lat": "double precision", "lon": "double precision"}
        cols = ", ".join(f"{c} {types.get(c, 'text')}" for c in COLUMNS)
        with self._conn.transaction():
            self._conn.execute(_SCHEMA_LOCK)
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS detection_archive ({cols}, "
                               "PRIMARY KEY (observed_at, detection_id)) "
                               "PARTITION BY RANGE (observed_at)")
            self._conn.execute("CREATE TABLE IF NOT EXISTS detection_incidents (detection_id "
                               "uuid NOT NULL, incident_id text NOT NULL, PRIMARY KEY "
                               "(detection_id, incident_id))")
            for statement in _INDEXES:
                self._conn.execute(statement)
            self._conn.execute("CREATE TABLE IF NOT EXISTS plate_sightings (plate_tag text NOT "
                               "NULL, observed_at timestamptz NOT NULL, detection_id uuid NOT "
                               "NULL, PRIMARY KEY (plate_tag, observed_at, detection_id))")
            self._conn.execute("CREATE INDEX IF NOT EXISTS plate_sightings_time ON "
                               "plate_sightings (observed_at)")
            self._create_shadow(self._conn)

    def ensure_days(self, days: Iterable[date]) -> None:
        """Create the partitions of `days` that do not exist yet (under the schema lock)."""
        missing = sorted(set(days) - self._days)
        if not missing:
            return
        with self._conn.transaction():
            self._conn.execute(_SCHEMA_LOCK)
            for day in missing:
                start = datetime(day.year, day.month, day.day, tzinfo=UTC)
                self._conn.execute(
                    f"CREATE TABLE IF NOT EXISTS detection_archive_p{day:%Y%m%d} PARTITION OF "
                    f"detection_archive FOR VALUES FROM ('{start.isoformat()}') TO "
                    f"('{(start + timedelta(days=1)).isoformat()}')")
        self._days.update(missing)

    def _copy(self, rows: Sequence[ArchiveRow]) -> int:
        if not rows:
            return 0
        self.ensure_days({r.observed_at.date() for r in rows})
        columns = ", ".join(COLUMNS)
        with self._conn.transaction():
            self._conn.execute("CREATE TEMP TABLE IF NOT EXISTS archive_incoming (LIKE "
                               "detection_archive INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
            with self._conn.cursor().copy(f"COPY archive_incoming ({columns}) FROM STDIN"
                                          ) as copy:
                for r in rows:
                    copy.write_row(r.values())
            cur = self._conn.execute(
                f"INSERT INTO detection_archive ({columns}) SELECT {columns} FROM "  # noqa: S608
                "archive_incoming ON CONFLICT DO NOTHING")
            self._conn.execute("INSERT INTO plate_sightings SELECT plate_tag, observed_at, "
                               "detection_id FROM archive_incoming WHERE plate_tag IS NOT NULL "
                               "ON CONFLICT DO NOTHING")
            return int(cur.rowcount)

    def write(self, rows: Sequence[ArchiveRow]) -> int:
        """Rows in (duplicates dropped); a value the database refuses is `RowRefused`."""
        import psycopg

        try:
            return self._copy(rows)
        except psycopg.DataError as exc:
            raise RowRefused(str(exc).splitlines()[0]) from None

    def link(self, pairs: Iterable[tuple[str, str]]) -> int:
        pairs = list(pairs)
        if not pairs:
            return 0
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany("INSERT INTO detection_incidents VALUES (%s::uuid, %s) ON CONFLICT "
                            "DO NOTHING", pairs)
            return int(cur.rowcount)

    def query(self, f: SearchFilter, after: tuple[datetime, str] | None,
              limit: int) -> list[dict[str, Any]]:
        by_plate = f.plate is not None  # the plate's rows come from plate_sightings
        where, params = self._where(replace(f, plate=None) if by_plate else f, after)
        rows = self._conn.execute(self._sql(self._select(where, by_plate)),
                                  [*([list(f.plate_tags)] if by_plate else []), *params,
                                   limit]).fetchall()
        return [{**r, "detection_id": str(r["detection_id"])} for r in rows]

    def rows_between(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        with self._conn.transaction(), self._conn.cursor(name="archive_rows") as cur:
            cur.itersize = 5000
            cur.execute(f"SELECT {', '.join(COLUMNS)} FROM detection_archive WHERE "  # noqa: S608
                        "observed_at >= %s AND observed_at < %s ORDER BY observed_at, "
                        "detection_id", (start, end))
            for r in cur:
                yield {**r, "detection_id": str(r["detection_id"])}

    def partitions(self) -> list[tuple[str, date]]:
        rows = self._conn.execute(
            "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'detection_archive'"
        ).fetchall()
        out = []
        for r in rows:
            with contextlib.suppress(ValueError):
                out.append((r["name"], date.fromisoformat(r["name"][-8:])))
        return sorted(out, key=lambda x: x[1])

    def drop_before(self, cutoff: datetime) -> int:
        """Drop every whole day before `cutoff`'s day; returns partitions dropped."""
        dropped = 0
        for name, day in self.partitions():
            if day < cutoff.astimezone(UTC).date():
                with self._conn.transaction():
                    self._conn.execute(_SCHEMA_LOCK)
                    self._conn.execute(f'DROP TABLE IF EXISTS "{name}"')
                self._days.discard(day)
                dropped += 1
        start = datetime.combine(cutoff.astimezone(UTC).date(), datetime.min.time(), UTC)
        self._conn.execute("DELETE FROM plate_sightings WHERE observed_at < %s", (start,))
        return dropped

    def forget_tags(self, key_ids: Sequence[str]) -> int:
        if not key_ids:
            return 0
        with self._conn.transaction():
            self._conn.execute("DELETE FROM plate_sightings s USING detection_archive a WHERE "
                               "a.plate_key = ANY(%s) AND s.detection_id = a.detection_id AND "
                               "s.observed_at = a.observed_at", (list(key_ids),))
            cur = self._conn.execute("UPDATE detection_archive SET plate_tag = NULL WHERE "
                                     "plate_key = ANY(%s) AND plate_tag IS NOT NULL",
                                     (list(key_ids),))
        return int(cur.rowcount)

    def count(self) -> int:
        row = self._conn.execute("SELECT count(*) AS n FROM detection_archive").fetchone()
        return int(row["n"]) if row else 0

    def close(self) -> None:
        self._conn.close()


def open_archive(url: str) -> ArchiveStore:
    """`postgresql://...` → `PostgresArchive`; `sqlite:///path` or a path → `SQLiteArchive`.
    Tables are created (idempotent)."""
    store: ArchiveStore
    if url.startswith(("postgresql://", "postgres://")):
        store = PostgresArchive(url)
    else:
        store = SQLiteArchive(Path(url.removeprefix("sqlite://")))
    store.create_tables()
    return store
