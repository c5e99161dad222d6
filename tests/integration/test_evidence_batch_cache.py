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
