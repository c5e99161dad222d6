"""Who looked at whom, and which tokens no longer hold: two small aggregates of the event store.

`PersonalDataAccessBatch` records that personal fields (plate, subject id, snapshot) were
revealed in the clear: one batch per flush, each entry naming who (principal, role, agency,
token id), when, which incident, which fields, through what (`via`), and the pseudonyms of the
subjects revealed (`domain.privacy.mask` of `face:<id>` / `plate:<PLATE>`), so an auditor can
search by subject without the log holding the identity itself. Batches live in the same
hash-chained store as incidents, so a removed or altered batch breaks the chain.

`TokenRevocation` records that a bearer token (by its `jti`) was revoked; its id derives from
the `jti`, so revoking twice is one fact.

Event history (all version 1): PersonalDataAccessBatch.Recorded, TokenRevocation.Revoked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

__all__ = ["ACCESS_TOPIC", "MAX_BATCH", "REVOCATION_TOPIC", "InvalidAccessRecord",
           "PersonalDataAccessBatch", "TokenRevocation", "access_entry"]

_NAMESPACE = uuid5(NAMESPACE_URL, "https://kuzet.dev/ns/token-revocation")
MAX_BATCH = 1000
"""Entries per batch event (a flush with more writes several batches)."""
ACCESS_TOPIC = "domain.access:PersonalDataAccessBatch.Recorded"
REVOCATION_TOPIC = "domain.access:TokenRevocation.Revoked"
_ENTRY_FIELDS = ("at", "principal", "role", "agency", "token", "incident", "fields", "subjects",
                 "via")


class InvalidAccessRecord(DomainError):
    """Raised when an access entry, a batch or a revocation is malformed (the message says how)."""


def access_entry(*, at: datetime, principal: str, role: str, agency: str, token: str,
                 incident: str, fields: Sequence[str], subjects: Sequence[str],
                 via: str) -> dict[str, Any]:
    """One access-log entry as stored (plain JSON values; `at` as ISO 8601 with offset)."""
    if at.tzinfo is None:
        raise InvalidAccessRecord("an access entry's time needs a UTC offset")
    if not fields:
        raise InvalidAccessRecord("an access entry names at least one revealed field")
    return {"at": at.isoformat(), "principal": principal, "role": role, "agency": agency,
            "token": token, "incident": incident, "fields": sorted(set(fields)),
            "subjects": sorted(set(subjects)), "via": via}


class PersonalDataAccessBatch(Aggregate):
    """A batch of access-log entries, written once (a new aggregate per batch)."""

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @event("Recorded")
    def __init__(self, entries: list[dict[str, Any]], recorded_at: datetime) -> None:
        self.entries = entries
        self.recorded_at = recorded_at

    @classmethod
    def record(cls, entries: Sequence[Mapping[str, Any]],
               recorded_at: datetime) -> PersonalDataAccessBatch:
        """A batch of 1..`MAX_BATCH` entries made by `access_entry`."""
        if not 0 < len(entries) <= MAX_BATCH:
            raise InvalidAccessRecord(f"a batch holds 1..{MAX_BATCH} entries, not {len(entries)}")
        for entry in entries:
            if tuple(entry) != _ENTRY_FIELDS:
                raise InvalidAccessRecord(f"access entry fields {sorted(entry)} are not "
                                     f"{list(_ENTRY_FIELDS)}")
        return cls(entries=[dict(e) for e in entries], recorded_at=recorded_at)


class TokenRevocation(Aggregate):
    """A revoked token id; the token is refused from then on, on every request and socket."""

    @staticmethod
    def create_id(jti: str) -> UUID:
        return uuid5(_NAMESPACE, jti)

    @event("Revoked")
    def __init__(self, jti: str, by: str, reason: str, expires_at: int, at: datetime) -> None:
        self.jti = jti
        self.by = by
        self.reason = reason
        self.expires_at = expires_at
        self.at = at

    @classmethod
    def revoke(cls, *, jti: str, by: str, reason: str, expires_at: int,
               at: datetime) -> TokenRevocation:
        if not 0 < len(jti) <= 200 or not 0 < len(by) <= 200 or len(reason) > 2000:
            raise InvalidAccessRecord("a revocation needs a token id and an actor (1..200 "
                                 "characters) and a reason of at most 2000")
        return cls(jti=jti, by=by, reason=reason, expires_at=expires_at, at=at)
