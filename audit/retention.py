"""Erasure on request and by retention, honouring legal holds.

`shred_subject` destroys a subject's key (`plate:A123BC02`, `face:S7`) and the snapshot and
free-text (notes) keys of every incident that referenced it; `apply_retention` destroys keys
older than their data class's retention period. Both refuse or skip keys referenced by an
incident under legal hold.

Evidence files go with their keys: when a shred or retention destroys an incident's snapshot
key, the images that incident references (by digest, `domain.evidence` layout under the
evidence store's root, `evidence=`) are deleted from disk after the erasure is recorded. The
digests stay on the incident's events (in the clear) as proof the images existed. Images are
content-addressed, so an image another incident also references goes too: privacy first.
A file already gone is not an error; one that cannot be deleted is reported (`Shred.kept`)
and deleted by the next run (`delete_evidence` is idempotent).

Order of work, chosen so that no crash leaves plaintext readable and no view stale for good:
the keys are destroyed, the incidents referencing them read and the erasure journalled in
one transaction (`KeyStore.shred_referenced`), then the domain application records the
`Erasure` and a `PersonalDataErased` per incident, and the journal entry is marked recorded.
A crash in between leaves a journal entry that the next run of either command records first
(`record_pending`). Recording after destroying means a view may be redacted a moment late,
never that a view keeps plaintext the store no longer has.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from domain.application import IncidentApp
from domain.erasure import (
    DataClass,
    check_reason,
    erasure_identities,
    incident_identities,
    parse_subject,
)
from domain.evidence import evidence_relpath, is_digest
from eventstore.keystore import KeyRow, KeyStore, PrivacyError

__all__ = ["RETENTION_ACTOR", "LegalHoldActive", "PrivacyError", "Retention", "Shred",
           "apply_retention", "delete_evidence", "record_pending", "shred_subject"]

RETENTION_ACTOR = "rule:retention"
BATCH_KEYS = 200
"""Keys per retention erasure: bounds the incidents saved in one transaction."""


class LegalHoldActive(PrivacyError):
    """Raised when a shred would destroy values of incidents under legal hold (ids listed)."""

    def __init__(self, incident_ids: Sequence[str]) -> None:
        self.incident_ids = list(incident_ids)
        super().__init__(f"refused: {len(self.incident_ids)} incident(s) under legal hold "
                         f"hold this subject's data ({', '.join(self.incident_ids)}); release the "
                         "hold first")


@dataclass(frozen=True, slots=True)
class Shred:
    """One carried-out erasure: key id → data class, incident id → key ids."""

    erasure_id: str
    keys: Mapping[str, str]
    incidents: Mapping[str, Sequence[str]]
    deleted: Sequence[str] = ()
    """Digests of the evidence files deleted from disk."""
    kept: Sequence[str] = ()
    """Digests whose file could not be deleted (named with the reason): the next run retries."""


@dataclass(frozen=True, slots=True)
class Retention:
    """What a retention run shred (or, dry, would shred) and what legal holds kept."""

    due: list[KeyRow]
    held: dict[str, list[str]] = field(default_factory=dict)
    """Key id → the held incidents that keep it."""
    shreds: list[Shred] = field(default_factory=list)


def record_pending(app: IncidentApp, keys: KeyStore) -> int:
    """Record erasures journalled but not yet stored (after a crash); returns how many."""
    pending = keys.pending_erasures()
    for erasure_id, payload in pending:
        app.record_erasure(erasure_id=erasure_id, keys=payload["keys"],
                           incidents=payload["incidents"], cause=payload["cause"],
                           reason=payload["reason"], actor=payload["actor"],
                           at=datetime.fromisoformat(payload["at"]))
        keys.mark_recorded(erasure_id)
    return len(pending)


def delete_evidence(app: IncidentApp, incident_ids: Iterable[str],
                    evidence: Path) -> tuple[list[str], list[str]]:
    """Delete the image files the incidents reference, by digest under `evidence`; returns
    (digests deleted or already gone, "digest: reason" for files that could not be)."""
    deleted: list[str] = []
    kept: list[str] = []
    for incident_id in incident_ids:
        for snap in app.incident(uuid.UUID(incident_id)).snapshots:
            digest = snap.get("sha256")
            if not isinstance(digest, str) or not is_digest(digest) or digest in deleted:
                continue
            try:
                with contextlib.suppress(FileNotFoundError):
                    (evidence / evidence_relpath(digest)).unlink()
                deleted.append(digest)
            except OSError as exc:
                kept.append(f"{digest}: {exc.strerror or exc}")
    return deleted, kept


def shred_subject(app: IncidentApp, keys: KeyStore, subject: str, *, reason: str, actor: str,
                  at: datetime, evidence: Path | None = None) -> Shred | None:
    """Destroy `subject`'s key and its incidents' snapshot and free-text keys (and, with
    `evidence`, their image files); None if no key is held for the subject."""
    identity = parse_subject(subject)
    check_reason(reason, identity)
    record_pending(app, keys)
    found = keys.live_keys(erasure_identities(identity))  # each script's look-alikes
    if not found:
        return None
    incidents = _incidents(keys.refs([k.key_id for k in found]))
    held = app.held(incidents)
    if held:
        raise LegalHoldActive(held)
    return _carry_out(app, keys, found, cause="request", reason=reason, actor=actor, at=at,
                      incident_keys=True, evidence=evidence)


def apply_retention(app: IncidentApp, keys: KeyStore, days: Mapping[str, float], *,
                    at: datetime, dry_run: bool = False,
                    evidence: Path | None = None) -> Retention:
    """Shred every key older than its class's `days` unless a held incident references it
    (with `evidence`, deleting the image files of incidents whose snapshot key went)."""
    record_pending(app, keys)
    due = keys.expired({c: at - timedelta(days=d) for c, d in days.items()})
    refs = keys.refs([k.key_id for k in due])
    held_incidents = set(app.held(_incidents(refs)))
    held = {k: [i for i in refs[k] if i in held_incidents] for k in refs}
    held = {k: v for k, v in held.items() if v}
    result = Retention(due=due, held=held)
    if dry_run:
        return result
    free = [k for k in due if k.key_id not in held]
    for start in range(0, len(free), BATCH_KEYS):
        batch = free[start:start + BATCH_KEYS]
        classes = sorted({k.data_class for k in batch})
        result.shreds.append(_carry_out(
            app, keys, batch, cause="retention", actor=RETENTION_ACTOR, at=at,
            reason=f"retention period elapsed ({', '.join(classes)})", evidence=evidence))
    return result


def _incidents(refs: Mapping[str, Iterable[str]]) -> list[str]:
    return sorted({i for ids in refs.values() for i in ids})


def _carry_out(app: IncidentApp, keys: KeyStore, rows: Sequence[KeyRow], *, cause: str,
               reason: str, actor: str, at: datetime, incident_keys: bool = False,
               evidence: Path | None = None) -> Shred:
    """Destroy `rows` (with `incident_keys`, also the snapshot and free-text keys of each
    incident referencing them), then record the erasure. What was destroyed and which
    incidents it touched are read in the destroying transaction, so an incident another
    process sealed values for while this one planned is erased too."""
    erasure_id = str(uuid.uuid4())
    payload: dict[str, Any] = {"cause": cause, "reason": reason, "actor": actor,
                               "at": at.isoformat()}
    key_classes, by_incident = keys.shred_referenced(
        [k.key_id for k in rows], erasure_id, payload,
        incident_keys=incident_identities if incident_keys else None)
    app.record_erasure(erasure_id=erasure_id, keys=key_classes, incidents=by_incident,
                       cause=cause, reason=reason, actor=actor, at=at)
    keys.mark_recorded(erasure_id)
    if evidence is None:
        return Shred(erasure_id, key_classes, by_incident)
    imaged = [i for i, ids in by_incident.items()
              if any(key_classes.get(k) == DataClass.SNAPSHOT.value for k in ids)]
    deleted, kept = delete_evidence(app, imaged, evidence)
    return Shred(erasure_id, key_classes, by_incident, deleted, kept)
