"""CorrelationTrack: the incidents a correlation key has had, in order (its episodes).

Opening an incident saves the track and the incident in one transaction, so two workers that
race to open the same key's next incident cannot both succeed: the loser gets a conflict on
the track, reloads, and joins the winner's incident. A cold correlator loads the track to
learn a key's latest incident and next episode number.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

__all__ = ["CorrelationTrack", "track_id_for"]

_NAMESPACE = uuid5(NAMESPACE_URL, "https://kuzet.dev/ns/track")


def track_id_for(key: str) -> UUID:
    return uuid5(_NAMESPACE, f"track:{key}")


class CorrelationTrack(Aggregate):
    """Episodes of one correlation key. Events: Started, EpisodeStarted (version 1)."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return track_id_for(key)

    @event("Started")
    def __init__(self, *, key: str, timestamp: datetime) -> None:
        self.key = key
        self.incident_ids: list[str] = []

    @property
    def next_episode(self) -> int:
        return len(self.incident_ids)

    @property
    def latest_incident_id(self) -> UUID | None:
        return UUID(self.incident_ids[-1]) if self.incident_ids else None

    def start_episode(self, *, incident_id: UUID, at: datetime) -> None:
        self._episode_started(episode=self.next_episode, incident_id=str(incident_id),
                              timestamp=at)

    @event("EpisodeStarted")
    def _episode_started(self, episode: int, incident_id: str, timestamp: datetime) -> None:
        self.incident_ids.append(incident_id)
