"""CorrelationTrack: the incidents a correlation key has had, in order (its episodes).

Opening an incident saves the track and the incident in one transaction, so two workers that
race to open the same key's next incident cannot both succeed: the loser gets a conflict on
the track, reloads, and joins the winner's incident. A cold correlator loads the track to
learn a key's latest incident and next episode number.

A merge redirects the track of the merged incident's key (`Redirected`, when that incident is
the key's latest): the target incident becomes the key's latest, so later detections of the
key land in it, on a warm or a cold correlator alike, and a replay of the track says the same.
The redirect takes an episode number of its own (never an incident id of this key), so the
key's next episode stays unique.
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
    """Episodes of one correlation key. Events: Started, EpisodeStarted, Redirected (v1)."""

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

    def redirect(self, *, merged_id: UUID, into_id: UUID, at: datetime) -> bool:
        """Incident `merged_id` was merged into `into_id`: later detections of this key belong
        to `into_id`. Only when `merged_id` is the key's latest incident (else the key has
        moved on to a newer episode, which keeps them); False when nothing changed."""
        if self.latest_incident_id != merged_id:
            return False
        self._redirected(episode=self.next_episode, incident_id=str(into_id),
                         merged_id=str(merged_id), timestamp=at)
        return True

    @event("Redirected")
    def _redirected(self, episode: int, incident_id: str, merged_id: str,
                    timestamp: datetime) -> None:
        """Redirected: `merged_id` was merged into `incident_id`, which is now the key's
        latest incident (episode number `episode` is taken by the redirect)."""
        self.incident_ids.append(incident_id)
