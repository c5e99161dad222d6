"""Observations and incidents with concurrent writers, on SQLite and PostgreSQL.

Several writers (threads, each with its own application and connection) fold canteen counts
and waste pickups into the same aggregates at once, with redeliveries mixed in: every sample is
counted exactly once, nothing is lost to a write conflict (the loser reloads and folds again;
after the bound it raises `ObservationConflict`, which a caller retries like a redelivery).
Two writers adding evidence to one incident at once both land.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.detection import Detection
from domain.incident import incident_id_for
from domain.kinds import Kind
from domain.log import LogReader
from domain.observations import ObservationConflict, PickupLog, pickup_log_id
from eventstore.fastlog import FastLogReader
from tests.helpers import T0, default_rules, det

S = timedelta(seconds=1)
RULES = default_rules()
WRITERS, PER_WRITER = 4, 12


def _together(store_env: dict[str, str], work: Callable[[IncidentApp, int], None]) -> None:
    """Runs `work(app, writer)` in WRITERS threads released at once."""
    apps = [IncidentApp(store_env, RULES) for _ in range(WRITERS)]
    start, errors = threading.Barrier(WRITERS), []

    def run(n: int) -> None:
        start.wait()
        try:
            work(apps[n], n)
        except Exception as exc:  # surfaced below: a thread must not swallow a failure
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for app in apps:
        app.close()
    assert not errors, errors


def _record(app: IncidentApp, dets: list[Detection]) -> None:
    """Like the correlator: an `ObservationConflict` is retried as a redelivery would be."""
    for _ in range(20):
        try:
            app.record_observations(dets, T0 + 60 * S)
            return
        except ObservationConflict:
            continue
    raise AssertionError("observation never saved")


def test_concurrent_canteen_counts_and_pickups_are_each_counted_once(
        store_env: dict[str, str]) -> None:
    counts = [[det("canteen_count", site="school-7", source=f"cam-{n}", seconds=i,
                   attributes={"count": 10 * n + i, "meal": "lunch"})
               for i in range(PER_WRITER)] for n in range(WRITERS)]
    pickups = [[det("waste_pickup", site="yard-2", source=f"truck-{n}", seconds=i)
                for i in range(3)] for n in range(WRITERS)]

    def work(app: IncidentApp, n: int) -> None:
        for i in range(PER_WRITER):
            _record(app, [counts[n][i]])
            _record(app, [counts[(n + 1) % WRITERS][i]])  # another writer's, redelivered here
        _record(app, pickups[n] + pickups[(n + 1) % WRITERS])

    _together(store_env, work)
    app = IncidentApp(store_env, RULES)
    try:
        tally = app.canteen_tally("school-7", T0.date().isoformat(), "lunch")
        assert tally is not None
        assert tally.samples == WRITERS * PER_WRITER
        assert tally.peak == max(d.attributes["count"] for c in counts for d in c)
        log = app._get(pickup_log_id("yard-2", T0.date().isoformat()), PickupLog)
        assert log is not None and len(log.seen_at) == WRITERS * 3
    finally:
        app.close()


def test_two_writers_adding_evidence_to_one_incident_both_land(
        store_env: dict[str, str]) -> None:
    key = "fire:site=s5"
    opening = tuple(det("fire", site="s5", seconds=i) for i in range(3))
    iid = incident_id_for(key, 0)
    setup = IncidentApp(store_env, RULES)
    setup.open_incident(OpenIncident(key, Kind.FIRE, 0, iid, opening, None, T0 + 5 * S),
                        T0 + 5 * S)
    setup.close()
    more = [[det("fire", site="s5", source=f"cam-{n}", seconds=10 + i) for i in range(5)]
            for n in range(WRITERS)]

    def work(app: IncidentApp, n: int) -> None:
        for d in more[n]:
            assert app.add_evidence(iid, [d], T0 + 30 * S).changed

    _together(store_env, work)
    app = IncidentApp(store_env, RULES)
    try:
        assert app.incident(iid).evidence_count == 3 + WRITERS * 5
    finally:
        app.close()


def test_canteen_counts_stored_before_v2_read_back_through_the_upcaster(tmp_path) -> None:
    """A v1 `Counted` (no detection ids, no class_version) as stored before this version, on
    SQLite (the stored form is the same on PostgreSQL): it loads, and new samples add to it."""
    import sqlite3

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}
    first = det("canteen_count", site="school-9", attributes={"count": 30, "meal": "lunch"})
    app = IncidentApp(env, RULES)
    app.record_observations([first], T0 + 5 * S)
    app.close()
    with sqlite3.connect(env["SQLITE_DBNAME"]) as db:
        (state,) = db.execute("SELECT state FROM stored_events WHERE topic LIKE '%Counted'"
                              ).fetchone()
        v1 = state.replace(f',"detection_ids":["{first.detection_id}"],"class_version":2'
                           .encode(), b"")
        assert v1 != state
        db.execute("UPDATE stored_events SET state = ? WHERE topic LIKE '%Counted'", (v1,))
    app = IncidentApp(env, RULES)
    try:
        day = T0.date().isoformat()
        tally = app.canteen_tally("school-9", day, "lunch")
        assert tally is not None and (tally.peak, tally.samples) == (30, 1)
        assert tally.detection_ids == set()  # v1 stored none
        later = det("canteen_count", site="school-9", seconds=9,
                    attributes={"count": 35, "meal": "lunch"})
        app.record_observations([later], T0 + 15 * S)
        tally = app.canteen_tally("school-9", day, "lunch")
        assert tally is not None and (tally.peak, tally.samples, tally.version) == (35, 2, 3)
        fast = FastLogReader(app)  # the v2 event decodes fast, the v1 one through the upcaster
        assert fast.read(1, 10) == LogReader(app).read(1, 10) and fast.fell_back == 1
    finally:
        app.close()


def test_below_rule_matches_are_counted_once_each(store_env: dict[str, str]) -> None:
    app = IncidentApp(store_env, RULES)
    try:
        weak = [det("face_match", source=f"cam-{i}", conf=0.4 + i / 100, seconds=i,
                    attributes={"subject_id": "W-9", "similarity": 0.4 + i / 100})
                for i in range(4)]
        app.record_observations(weak[:3], T0 + 9 * S)
        app.record_observations(weak, T0 + 10 * S)  # three of them redelivered
        tally = app.below_rule_tally("face_match", T0.date().isoformat())
        assert tally is not None and tally.count == 4 and tally.best == weak[3].confidence
        assert tally.version == 3
    finally:
        app.close()
