"""The personal-data access log: who saw which personal fields of which incident, and when.

Resolvers call `AccessLog.note(...)` whenever an answer carries a plate, a subject id or a
snapshot reference in the clear (`api.policy.Reveal.revealed_*`); notes are written in batches
(`domain.access.PersonalDataAccessBatch`, one per flush, at most every `flush_s`) to the event
store, hash-chained like every other event. `read_access(...)` is the auditors' query over it.
Subjects are recorded and searched by pseudonym (`subject_pseudonym`), never in the clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.auth import Principal
from domain.access import ACCESS_TOPIC, MAX_BATCH, PersonalDataAccessBatch, access_entry
from domain.application import IncidentApp
from domain.erasure import DataClass, identity_of, parse_subject
from domain.privacy import mask

__all__ = ["AccessFilter", "AccessLog", "read_access", "subject_pseudonym", "subjects_of"]

log = logging.getLogger("kuzet.api.access")
_ATTRIBUTES = {"subject_id": DataClass.FACE, "plate": DataClass.PLATE}


def subjects_of(subject: Mapping[str, Any]) -> list[str]:
    """The pseudonyms of the identities an incident's subject names."""
    return [mask(str(identity_of(c, str(subject[k])))) for k, c in _ATTRIBUTES.items()
            if isinstance(subject.get(k), str) and subject[k]]


def subject_pseudonym(text: str) -> str:
    """The pseudonym an auditor searches by: `plate:A777AA02` or `face:S7` (`InvalidErasure`
    from `domain.erasure` for anything else)."""
    return mask(str(parse_subject(text)))


class AccessLog:
    """Buffers access notes and writes them in batches (a background task per process)."""

    def __init__(self, app: IncidentApp, flush_s: float) -> None:
        self.app = app
        self.flush_s = flush_s
        self.pending: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        """One flush at a time: a flush returns only once every note taken before it is
        written, including those a concurrent flush took (an auditor's query flushes first)."""

    def note(self, who: Principal, incident: str, fields: Sequence[str],
             subjects: Sequence[str], via: str) -> None:
        if not fields:
            return
        self.pending.append(access_entry(
            at=datetime.now(UTC), principal=who.subject, role=who.role.value, agency=who.agency,
            token=who.token_id, incident=incident, fields=fields, subjects=subjects, via=via))
        if self._task is None:
            with contextlib.suppress(RuntimeError):  # no running loop: flushed at stop
                self._task = asyncio.get_running_loop().create_task(
                    self._run(), name="kuzet-access-log")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            try:
                await self.flush()
            except Exception:  # the store may be briefly unavailable: keep notes, retry
                log.exception("writing the personal-data access log failed")

    async def flush(self) -> None:
        async with self._flushing:
            entries, self.pending = self.pending, []
            if not entries:
                return
            try:
                await asyncio.to_thread(self.write, entries)
            except BaseException:
                self.pending[:0] = entries
                raise

    def write(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Blocking: one batch per `MAX_BATCH` entries."""
        now = datetime.now(UTC)
        for i in range(0, len(entries), MAX_BATCH):
            self.app.save(PersonalDataAccessBatch.record(entries[i:i + MAX_BATCH], now))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()


@dataclass(frozen=True, slots=True)
class AccessFilter:
    """An auditor's question: by subject pseudonym, incident, principal, and time window."""

    subject: str | None = None
    incident: str | None = None
    principal: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, e: Mapping[str, Any]) -> bool:
        at = datetime.fromisoformat(e["at"])
        return ((self.subject is None or self.subject in e["subjects"])
                and (self.incident is None or e["incident"] == self.incident)
                and (self.principal is None or e["principal"] == self.principal)
                and (self.since is None or at >= self.since)
                and (self.until is None or at < self.until))


def read_access(app: IncidentApp, f: AccessFilter, start: int = 1) -> Iterator[
        tuple[int, dict[str, Any]]]:
    """Blocking: matching entries with the log position of their batch, oldest first."""
    while True:
        notes = app.recorder.select_notifications(start, 500, topics=[ACCESS_TOPIC])
        for n in notes:
            batch: Any = app.mapper.to_domain_event(n)
            for entry in batch.entries:
                if f.matches(entry):
                    yield n.id, entry
        if len(notes) < 500:
            return
        start = notes[-1].id + 1
