"""A fast `NotificationSource`: the notification log decoded straight from the stored bytes.

`domain.log.LogReader` turns each stored event back into an eventsourcing domain event (the
mapper) and then makes every field JSON-safe again, so most of its work is undone at once.
`FastLogReader` gives the very same `LogEvent`s without the detour (`eventstore.faststate`: one
`orjson.loads` per state, transcoded values turned into what `json_safe` makes of them), takes
aggregate and event name from the topic's class, and opens sealed values with the
application's own `Sealer` (same key store, same key caches), or leaves them sealed
(`stored_form=True`: the stored form `eventstore.sealing.SealedLogReader` reads).

`LogReader` stays the reference, and the fallback: a store whose mapper compresses or
encrypts, or whose mapper or transcoder is not eventsourcing's JSON one (or our
`SealingMapper`), is read by it entirely; so is each event this module does not decode by
itself (a class with upcasters, a transcoding it does not know, a state orjson might read
differently), which therefore gets the reference result or the reference error, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, Mapper, find_id_convertor
from eventsourcing.utils import TopicError, resolve_topic

from domain.erasure import sealed_fields, unseal_field
from domain.log import LogEvent, LogReader
from eventstore.fastrows import Row, page_reader, raw_sqlite_ids
from eventstore.faststate import NOT_FAST, decode_state, decoders_of, fields_of, splice_page
from eventstore.sealing import ERASURE_TOPIC, SealedLogReader, SealingMapper

__all__ = ["FastLogReader"]

Opener = Callable[[Mapping[str, Any]], str]
_HEX = re.compile("[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one stored topic decodes to; `sealed`: the fields to open (none in stored form)."""

    cls: type
    aggregate: str
    name: str
    sealed: tuple[str, ...]
    version: int
    """The class's `class_version`: states of an older version go to the mapper (upcasting)."""


class FastLogReader:
    """A `NotificationSource` (and the relay's `HistorySource`) equal to `LogReader`, faster.

    `stored_form=True` leaves sealed values sealed, like `SealedLogReader`. `fast` is False
    where the store's mapper is not one this reader can stand in for (every event then goes
    through the reference); `fell_back` counts the events it handed to the reference.
    """

    def __init__(self, app: Any, *, stored_form: bool = False) -> None:
        self._reference = SealedLogReader(app) if stored_form else LogReader(app)
        self._recorder = recorder = app.recorder
        mapper = app.mapper
        self._open: Opener | None = (
            None if stored_form or type(mapper) is not SealingMapper else mapper.sealer.open)
        self._keys = mapper.sealer.keys if self._open is not None else None
        plain = (type(mapper) in (Mapper, SealingMapper) and mapper.compressor is None
                 and mapper.cipher is None and type(mapper.transcoder) is JSONTranscoder)
        self._decoders = decoders_of(mapper.transcoder) if plain else {}
        self.fast = "datetime_iso" in self._decoders
        self.fell_back = 0
        self._plans: dict[str, _Plan] = {}
        self._rows = page_reader(recorder)
        self._stored_ids = raw_sqlite_ids(recorder)  # ids as SQLite stores them (text)
        self._hex_ids = self._stored_ids and recorder.datastore.originator_id_type == "uuid"

    def head(self) -> int:
        return self._reference.head()

    def read(self, start: int, limit: int) -> list[LogEvent]:
        """Up to `limit` events at positions >= `start`, in log order."""
        if not self.fast:
            return self._reference.read(start, limit)
        return self._decode(self._rows(start, limit), None)

    def events_of(self, originator_id: str, up_to_version: int) -> list[LogEvent]:
        """One aggregate's events with versions <= `up_to_version` (position 0: not paged)."""
        if not self.fast:
            return self._reference.events_of(originator_id, up_to_version)
        stored = self._recorder.select_events(UUID(originator_id), lte=up_to_version)
        return self._decode([(0, s.originator_id, s.originator_version, s.topic, s.state)
                             for s in stored], stored)

    def _decode(self, rows: Sequence[Row], stored: Sequence[Any] | None) -> list[LogEvent]:
        """`rows` decoded; an event the fast path refuses goes to the reference, with its
        `stored` event or notification (read again by position if not given)."""
        none = [None] * len(rows)
        if self._open is not None:
            self._forget_erased(rows)
        spliced: Sequence[bytes | None] = splice_page([r[4] for r in rows]) or none
        return [self._fast(row, text) or self._slow(row, original) for row, text, original
                in zip(rows, spliced, none if stored is None else stored, strict=True)]

    def _forget_erased(self, rows: Sequence[Row]) -> None:
        """Keys an erasure in this page names are dropped from the key caches before any event
        of the page is opened, so nothing recorded after it opens with a key cached before it
        (events before it in the page then read `[shredded]` too, as a rebuild would)."""
        assert self._keys is not None
        for row in rows:
            if row[3].endswith(ERASURE_TOPIC):
                self._keys.forget(orjson.loads(row[4]).get("key_ids") or ())

    def _fast(self, row: Row, spliced: bytes | None) -> LogEvent | None:
        plan = self._plans.get(row[3]) or self._plan(row[3])
        if plan is None:
            return None
        try:
            timestamp, fields = (decode_state(row[4], self._decoders, plan.version)
                                 if spliced is None else fields_of(spliced, plan.version))
        except NOT_FAST:
            return None
        if plan.sealed:
            _open_sealed(fields, plan.sealed, self._open)
        oid = row[1]
        return LogEvent(row[0], plan.aggregate, plan.name,
                        str(oid) if type(oid) is UUID else self._originator(plan.cls, oid),
                        int(row[2]), timestamp, fields)

    def _slow(self, row: Row, stored: Any) -> LogEvent:
        self.fell_back += 1
        if stored is None:
            found = self._recorder.select_notifications(row[0], 1, stop=row[0])
            if not found:
                raise LookupError(f"notification {row[0]} was removed while it was read")
            stored = found[0]
        return self._reference.decode(stored, row[0])

    def _originator(self, cls: type, oid: Any) -> str:
        """Text of an id as the reference gives it: SQLite's 32 lower-case hex digits
        hyphenated, anything else converted as the recorder and the mapper would."""
        if self._hex_ids and type(oid) is str and _HEX.fullmatch(oid):
            return f"{oid[:8]}-{oid[8:12]}-{oid[12:16]}-{oid[16:20]}-{oid[20:]}"
        if self._stored_ids:
            oid = self._recorder.convert_originator_id(oid)
        return str(find_id_convertor(cls, cast("Hashable", type(oid)))(oid))

    def _plan(self, topic: str) -> _Plan | None:
        """The topic's plan (cached); None: the reference decodes it (or says why it cannot)."""
        try:
            cls = resolve_topic(topic)
        except TopicError:
            return None
        qualname = cls.__qualname__
        aggregate, _, name = qualname.rpartition(".")
        plan = self._plans[topic] = _Plan(
            cls, aggregate, name, sealed_fields(qualname) if self._open else (),
            getattr(cls, "class_version", 1))
        return plan


def _open_sealed(fields: dict[str, Any], names: tuple[str, ...], open_: Opener | None) -> None:
    """Open the sealed markers in `names` as `SealingMapper.to_domain_event` does."""
    if open_ is None:
        return
    for name in names:
        if name in fields:
            fields[name] = unseal_field(fields[name], open_)
