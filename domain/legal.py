"""Use case: personal-data law — which incidents are under legal hold, recording erasures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.erasure import CAUSES, Erasure, ErasureConflict, InvalidErasure, check_reason
from domain.incident import Incident
from domain.loading import IncidentStore

__all__ = ["ErasureRecords"]


class ErasureRecords(IncidentStore):
    def held(self, incident_ids: Iterable[str]) -> list[str]:
        """Those of `incident_ids` under legal hold (ids of no incident are not held)."""
        out = []
        for incident_id in incident_ids:
            incident = self._get(UUID(incident_id), Incident)
            if incident is not None and incident.legal_hold:
                out.append(incident_id)
        return out

    def record_erasure(self, *, erasure_id: str, keys: Mapping[str, str],
                       incidents: Mapping[str, Sequence[str]], cause: str, reason: str,
                       actor: str, at: datetime) -> bool:
        """Record a shred the key store carried out: the `Erasure` record and
        `PersonalDataErased` on each incident it touched, in one transaction.

        Idempotent (False when this erasure id is already recorded): the key store journals a
        shred in the transaction that destroys the keys, and replays the journal after a crash.
        A concurrent write to one of the incidents is retried on fresh loads.
        """
        if cause not in CAUSES:
            raise InvalidErasure(f"cause {cause!r} must be one of {', '.join(sorted(CAUSES))}")
        check_reason(reason)
        for _ in range(5):
            if self._get(UUID(erasure_id), Erasure) is not None:
                return False
            record = Erasure(erasure_id=erasure_id, keys=keys, incidents=incidents, cause=cause,
                             reason=reason, actor=actor, timestamp=at)
            touched = []
            for incident_id, key_ids in incidents.items():
                incident = self._get(UUID(incident_id), Incident)
                if incident is not None:
                    incident.erase_personal_data(
                        erasure_id=erasure_id, key_ids=key_ids,
                        data_classes=[keys[k] for k in key_ids], actor=actor, at=at)
                    touched.append(incident)
            try:
                self.save(record, *touched)
            except IntegrityError:
                continue
            return True
        raise ErasureConflict(erasure_id)
