"""Benchmark: the audit hash chain's cost on writes and the speed of `kuzet audit verify`.

    python bench/audit_verify.py [--events 20000] [--postgres-url postgresql://postgres@127.0.0.1:5432/test]

For SQLite and (if reachable) PostgreSQL, in one run:

* write path: the same saves (one incident of 5 events per save) into a store with
  eventsourcing's plain recorder and into one with the chained recorder, alternating in chunks
  so both see the same machine conditions; appends/s of each and the ratio;
* read path, on the chained store: the notification log read raw (eventsourcing's
  `select_notifications`, pages of 10,000) beside `verify_chain` (the log joined with the
  chain, one sha256 per event), events/s of each and the ratio.

No privacy pepper is set: both stores use eventsourcing's plain mapper, so the difference is
the chain alone. The PostgreSQL part uses two throwaway databases on --postgres-url's server.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import psycopg

from audit.chain import verify_chain
from domain.application import IncidentApp
from domain.incident import Incident
from domain.rules import load_rules
from eventstore.log import chain_of
from kuzet.settings import CHAINED_POSTGRES, CHAINED_SQLITE, postgres_env

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
RULES = load_rules(resources.files("domain").joinpath("rules.toml").read_text())
EVENTS_PER_SAVE = 5
CHUNK = 100


def incident(i: int) -> Incident:
    t = T0 + timedelta(seconds=i)
    inc = Incident(incident_key=f"fire:bench-{i}", episode=0, kind="fire", severity=2,
                   site_id=f"site-{i % 50}", location=None, source_ids=[f"cam-{i % 300}"],
                   detection_ids=[f"d-{i}-0"], first_seen_at=t, last_seen_at=t,
                   sla_due_at=t + timedelta(minutes=5), agencies=["situation_centre"],
                   subject={}, linked_to=None, rule="rule:bench@1", actor="rule:bench@1",
                   timestamp=t, snapshots=[])
    inc.add_evidence(detection_ids=[f"d-{i}-1"], source_ids=["cam-x"], count=1, first_seen_at=t,
                     last_seen_at=t, max_confidence=0.9, snapshots=[], suppressed=False,
                     actor="rule:bench@1", at=t)
    inc.acknowledge(actor="operator:o", at=t)
    inc.assign(assignee="o", actor="operator:o", at=t)
    inc.resolve(resolution="ok", actor="operator:o", at=t + timedelta(minutes=3))
    return inc


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f} events/s ({seconds:.2f}s)"


def write_side_by_side(plain: IncidentApp, chained: IncidentApp, saves: int) -> None:
    spent = {"plain": 0.0, "chained": 0.0}
    pending = {name: [incident(i) for i in range(saves)] for name in spent}  # one save each
    for start in range(0, saves, CHUNK):
        for name, app in (("plain", plain), ("chained", chained)):
            chunk = pending[name][start:start + CHUNK]
            began = time.perf_counter()
            for agg in chunk:
                app.save(agg)
            spent[name] += time.perf_counter() - began
    n = saves * EVENTS_PER_SAVE
    print(f"  append, plain recorder    {rate(n, spent['plain'])}")
    print(f"  append, chained recorder  {rate(n, spent['chained'])}"
          f"   chained/plain = {spent['plain'] / spent['chained']:.2f}")


def read_side_by_side(chained: IncidentApp) -> None:
    head = int(chained.recorder.max_notification_id() or 0)
    began, start = time.perf_counter(), 1
    while start <= head:
        start = chained.recorder.select_notifications(start, 10_000)[-1].id + 1
    raw_s = time.perf_counter() - began
    result = verify_chain(chain_of(chained), batch=10_000)
    if not result.ok or result.checked != head:
        raise SystemExit(f"the fresh chained store does not verify: {result.broken}")
    print(f"  log read raw              {rate(head, raw_s)}")
    print(f"  audit verify              {rate(result.checked, result.seconds)}"
          f"   verify/raw = {raw_s / result.seconds:.2f}")


def run(label: str, plain_env: dict[str, str], chained_env: dict[str, str], saves: int) -> None:
    print(f"{label}: {saves * EVENTS_PER_SAVE} events ({saves} saves of {EVENTS_PER_SAVE})")
    plain, chained = IncidentApp(plain_env, RULES), IncidentApp(chained_env, RULES)
    try:
        write_side_by_side(plain, chained, saves)
        read_side_by_side(chained)
    finally:
        plain.close()
        chained.close()


def create_databases(admin_url: str, count: int) -> list[str]:
    """Fresh PostgreSQL databases (URLs); psycopg.OperationalError if the server is away."""
    names = [f"kuzet_bench_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    return [f"{base}/{name}" for name in names]


def drop_databases(admin_url: str, urls: list[str]) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for url in urls:
            admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    saves = max(1, args.events // EVENTS_PER_SAVE)
    with tempfile.TemporaryDirectory(prefix="kuzet-bench-audit-") as tmp:
        run("SQLite", {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                       "SQLITE_DBNAME": str(Path(tmp) / "plain.sqlite")},
            {"PERSISTENCE_MODULE": CHAINED_SQLITE,
             "SQLITE_DBNAME": str(Path(tmp) / "chained.sqlite")}, saves)
    try:
        urls = create_databases(args.postgres_url, 2)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL: skipped, not reachable at {args.postgres_url} ({exc})")
        return
    try:
        run("PostgreSQL", {**postgres_env(urls[0]), "PERSISTENCE_MODULE": "eventsourcing.postgres"},
            {**postgres_env(urls[1]), "PERSISTENCE_MODULE": CHAINED_POSTGRES}, saves)
    finally:
        drop_databases(args.postgres_url, urls)


if __name__ == "__main__":
    main()
