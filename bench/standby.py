"""Benchmark: how fast a standby takes over from a killed `kuzet relay` / `kuzet projections run`.

    python bench/standby.py [--runs 3] [--lease-poll-s 1.0] [--postgres-url postgresql://postgres@127.0.0.1:5432/test]

Per run and follower, on a fresh PostgreSQL database (event store and read models) and the
embedded broker: 200 incidents (1,000 events) in the store; instance A starts and takes the
lease, B starts and waits as a standby; once A has followed to the head, A is killed (SIGKILL)
and one more incident is written at once. Measured from the moment A is dead: until B holds
the lease (the holder in `pg_locks`), and until B's first new output is durable (the relay's
position in `kuzet_positions`, every view's position in `proj_tracking`, past the old head:
for the relay that is after the broker acknowledged). Medians of `--runs`; the lease poll
interval (KUZET_LEASE_POLL_S) bounds the first figure from above.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventstore.lease import lease_holder
from kuzet.bench_conditions import Conditions, median
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.settings import load_settings
from kuzet.wiring import build_incident_app
from tests.integration.follower.helpers import (
    fill,
    holder_pid,
    kill9,
    logged,
    spawn,
    terminate,
    wait,
)

FOLLOWERS = {"relay": (["relay"], "SELECT min(position) FROM kuzet_positions "
                                  "WHERE name = 'relay'"),
             "projections": (["projections", "run"], "SELECT min(position) FROM proj_tracking")}


def _database(admin_url: str) -> str:
    name = f"kuzet_standby_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


def _drop(admin_url: str, url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def one_run(name: str, admin_url: str, bootstrap: str, poll_s: float, tmp: Path
            ) -> tuple[float, float]:
    """(kill → B holds the lease, kill → B's first new output durable) in seconds."""
    args, position_sql = FOLLOWERS[name]
    url = _database(admin_url)
    env = {"KUZET_EVENT_STORE_URL": url, "KUZET_READ_MODEL_URL": url, "KUZET_KAFKA_URL": bootstrap,
           "KUZET_DATA_DIR": str(tmp / "data"), "KUZET_LEASE_POLL_S": str(poll_s),
           "KUZET_LOG_LEVEL": "info", "KUZET_PRIVACY_PEPPER": "standby-bench-pepper-0123456789"}
    settings = load_settings(environ={}, **{k[6:].lower(): v for k, v in env.items()})
    app = build_incident_app(settings)
    head = fill(app, 200)
    tmp.mkdir(parents=True, exist_ok=True)
    logs = tmp / f"{name}-a.log", tmp / f"{name}-b.log"
    a = spawn(env, logs[0], *args)
    b = None
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            def position() -> int:
                row = conn.execute(position_sql).fetchone()
                return int(row[0]) if row and row[0] is not None else 0

            wait(lambda: holder_pid(lease_holder(url, name)) == a.pid, "A holding the lease",
                 alive=(a,))
            b = spawn(env, logs[1], *args)
            wait(lambda: logged(logs[1], "waiting as a standby"), "B waiting", alive=(a, b))
            wait(lambda: position() >= head, "A at the head", alive=(a,))
            kill9(a)
            dead = time.monotonic()
            fill(app, 1, first=200)
            active = wait(lambda: holder_pid(lease_holder(url, name)) == b.pid,
                          "B holding the lease", alive=(b,), every_s=0.01)
            output = wait(lambda: position() > head, "B's first output", alive=(b,),
                          every_s=0.01)
        return active - dead, output - dead
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                terminate(proc)
        app.close()
        _drop(admin_url, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lease-poll-s", type=float, default=1.0)
    parser.add_argument("--postgres-url", default=os.environ.get(
        "KUZET_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            EmbeddedBroker(free_port(), Path(tmp) / "broker.log") as broker, \
            Conditions("standby takeover", runs=opts.runs, lease_poll_s=opts.lease_poll_s,
                       store="postgresql", broker="embedded") as c:
        for name in FOLLOWERS:
            runs = [one_run(name, opts.postgres_url, broker.bootstrap_servers,
                            opts.lease_poll_s, Path(tmp) / f"{name}-{i}")
                    for i in range(opts.runs)]
            active = [r[0] * 1000 for r in runs]
            output = [r[1] * 1000 for r in runs]
            c.figure(f"{name}: kill -9 -> standby holds the lease", median(active), "ms", active)
            c.figure(f"{name}: kill -9 -> first new output durable", median(output), "ms",
                     output)


if __name__ == "__main__":
    main()
