"""Evidence batches on a caching application (the correlator's) load the cached aggregates
themselves, without a deepcopy; a batch that loses a race with another writer forgets them,
so nothing unsaved stays in the cache: its evidence is retried incident by incident, and the
store and the cache agree afterwards (SQLite and PostgreSQL).

The race window lies inside one call (between loading and saving), so a subclass lets the
other writer write at exactly that point, as a second worker would; both are real
applications on the real store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.incident import incident_id_for
from domain.kinds import Kind
from tests.helpers import T0, default_rules, det

S = timedelta(seconds=1)
RULES = default_rules()
KEY = "fire:site=s1"


class _Racing(IncidentApp):
    """Before its next save, `rival` adds one detection to the same incident."""

    name = IncidentApp.name  # the same tables (eventsourcing names them after the app)
    rival: IncidentApp | None = None

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        rival, self.rival = self.rival, None
        if rival is not None:
            incident_id = incident_id_for(KEY, 0)
            rival.add_evidence(incident_id, [det("fire", site="s1", seconds=20)], T0 + 21 * S)
        return super().save(*objs, **kwargs)


def _ids(app: IncidentApp) -> Sequence[str]:
    return sorted(app.incident(incident_id_for(KEY, 0)).evidence_ids)


def test_a_lost_race_leaves_no_unsaved_evidence_in_the_cache(store_env: dict[str, str]) -> None:
    cached = _Racing({**store_env, "AGGREGATE_CACHE_MAXSIZE": "100"}, RULES)
    rival = IncidentApp(store_env, RULES)
    try:
        dets = tuple(det("fire", site="s1", seconds=i) for i in range(3))
        cached.open_incident(OpenIncident(KEY, Kind.FIRE, 0, incident_id_for(KEY, 0), dets,
                                          None, T0 + 5 * S), T0 + 5 * S)
        more = det("fire", site="s1", seconds=10)
        cached.rival = rival
        [applied] = cached.add_evidence_batch([(incident_id_for(KEY, 0), [more], False)],
                                              T0 + 11 * S)
        assert applied.changed  # retried on its own after the conflict
        fresh = IncidentApp(store_env, RULES)
        try:
            assert _ids(cached) == _ids(fresh) and len(_ids(fresh)) == 5
        finally:
            fresh.close()
        later = det("fire", site="s1", seconds=30)  # the cache keeps working afterwards
        cached.add_evidence_batch([(incident_id_for(KEY, 0), [later], False)], T0 + 31 * S)
        assert len(_ids(rival)) == 6
    finally:
        cached.close()
        rival.close()


class _Reads:
    """Counts the worker's event reads (the real recorder's `select_events`, called
    through): the evidence flush of an incident the worker holds current reads nothing."""

    def __init__(self, app: IncidentApp) -> None:
        self.calls = 0
        select = app.recorder.select_events

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return select(*args, **kwargs)

        app.recorder.select_events = counted  # type: ignore[method-assign]


def test_an_operator_command_between_two_flushes_is_kept_and_the_flush_sees_it(
        store_env: dict[str, str]) -> None:
    """The worker's flush no longer reads an incident's newer events before writing (its own
    saves keep its cached copy current); an operator's command through the API process in
    between makes that copy stale, so the flush's save conflicts and is retried on the
    reloaded incident: the command stays, the evidence joins, the worker learns the status,
    and a detection observed after an operator's resolution is refused (re-correlated)."""
    from domain.kinds import Status

    worker = IncidentApp({**store_env, "AGGREGATE_CACHE_MAXSIZE": "100"}, RULES)
    operator = IncidentApp(store_env, RULES)  # the API's application: no cache
    incident_id = incident_id_for(KEY, 0)
    try:
        dets = tuple(det("fire", site="s1", seconds=i) for i in range(3))
        worker.open_incident(OpenIncident(KEY, Kind.FIRE, 0, incident_id, dets, None,
                                          T0 + 5 * S), T0 + 5 * S)
        reads = _Reads(worker)
        for i in (6, 7):
            [applied] = worker.add_evidence_batch(
                [(incident_id, [det("fire", site="s1", seconds=i)], False)], T0 + (i + 1) * S)
            assert applied.changed
        assert reads.calls == 0  # held current by its own saves: nothing read back

        operator.acknowledge(incident_id, by="op-1", at=T0 + 8 * S)
        [applied] = worker.add_evidence_batch(
            [(incident_id, [det("fire", site="s1", seconds=8)], False)], T0 + 9 * S)
        assert applied.changed and reads.calls > 0  # the conflict made it reload
        assert applied.snapshot is not None
        assert applied.snapshot.episode.status is Status.ACKNOWLEDGED
        assert len(_ids(operator)) == 6
        assert operator.incident(incident_id).status == Status.ACKNOWLEDGED.value

        operator.mark_false_alarm(incident_id, reason="drill", by="op-1", at=T0 + 10 * S)
        before, after = det("fire", site="s1", seconds=9), det("fire", site="s1", seconds=11)
        [applied] = worker.add_evidence_batch([(incident_id, [before, after], False)],
                                              T0 + 12 * S)
        assert [d.detection_id for d in applied.refused] == [after.detection_id]
        assert applied.snapshot is not None
        assert applied.snapshot.episode.status is Status.FALSE_ALARM
        assert before.detection_id in _ids(operator)
        assert after.detection_id not in _ids(operator)
        fresh = IncidentApp(store_env, RULES)
        try:  # the worker's cache and the store agree
            assert _ids(worker) == _ids(fresh)
            assert worker.incident(incident_id).version == fresh.incident(incident_id).version
        finally:
            fresh.close()
    finally:
        worker.close()
        operator.close()
