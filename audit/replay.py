"""Replay an export: check its chain, rebuild every view from it, compare with the live store.

The exported events go, at their original positions, into a scratch SQLite event store (a
temporary directory); a `ProjectionRunner` rebuilds every view from that store into a scratch
read-model store, and each view's `digest` is the one `kuzet projections verify` computes.
Events are decoded with the live application's mapper and key store (`FastLogReader`, what the
store's own readers use), so sealed personal fields decode, or read `[shredded]` after a key
was shredded, exactly as they do live.

What the replay is compared against: the live log folded over the same selection the export's
header names, i.e. the events at positions `first_position..last_position` (of the one incident
if the export was for one). For a full export (from the start, no incident) that is exactly the
live views at `last_position`. For a partial export it is not the live view (whose documents
also depend on earlier events) but proves the export holds exactly the live store's events of
that selection, none missing, none changed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from audit.chain import ChainedEvent
from audit.export import ExportHeader, read_export
from eventstore.fastlog import FastLogReader
from projections import ProjectionRunner, SqliteStore, digest
from projections.asof import fold_views
from projections.views import View, dumps

__all__ = ["Replayed", "ViewDigests", "replay_export"]


@dataclass(frozen=True, slots=True)
class ViewDigests:
    view: str
    rows: int
    replayed: str
    live: str

    @property
    def equal(self) -> bool:
        return self.replayed == self.live


@dataclass(frozen=True, slots=True)
class Replayed:
    header: ExportHeader
    events: int
    views: list[ViewDigests]

    @property
    def equal(self) -> bool:
        return all(v.equal for v in self.views)


@dataclass(frozen=True, slots=True)
class _Store:
    """The two parts of an eventsourcing `Application` that a log reader reads."""

    recorder: SQLiteApplicationRecorder
    mapper: Any


def _batches(events: Iterator[ChainedEvent], size: int) -> Iterator[list[ChainedEvent]]:
    batch: list[ChainedEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _load(recorder: SQLiteApplicationRecorder, events: Iterator[ChainedEvent]) -> int:
    """Insert the (checked) exported events at their original positions; returns the count."""
    sql = ("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state)"
           " VALUES (?,?,?,?,?)")  # the scratch recorder's default table
    count = 0
    for batch in _batches(events, 5000):
        with recorder.datastore.transaction(commit=True) as c:
            c.executemany(sql, [(e.position, UUID(e.originator_id).hex, e.originator_version,
                                 e.topic, e.state) for e in batch])
        count += len(batch)
    return count


async def replay_export(lines: Iterable[str], live_app: Any, views: Sequence[View],
                        scratch: Path | None = None) -> Replayed:
    """Check the export, rebuild `views` from it in scratch stores, compare with `live_app`."""
    with tempfile.TemporaryDirectory(prefix="kuzet-replay-", dir=scratch) as tmp:
        datastore = SQLiteDatastore(str(Path(tmp) / "events.sqlite"))
        try:
            recorder = SQLiteApplicationRecorder(datastore)
            recorder.create_table()
            header, events = read_export(lines)
            count = _load(recorder, events)
            replayed = await _rebuild(_Store(recorder, live_app.mapper), views, Path(tmp))
        finally:
            datastore.close()
    live = fold_views(FastLogReader(live_app), views, header.last_position,
                      first=header.first_position, keep=header.keeps)  # one read for all
    out = []
    for view in views:
        rows, got = replayed[view.name]
        out.append(ViewDigests(view.name, rows, got,
                               digest({k: dumps(d) for k, d in live[view.name].items()})))
    return Replayed(header, count, out)


async def _rebuild(store: _Store, views: Sequence[View], tmp: Path) -> dict[str, tuple[int, str]]:
    runner = ProjectionRunner(FastLogReader(store), SqliteStore(tmp / "views.sqlite"), views)
    await runner.setup()
    try:
        return {r.view: (r.rows, r.digest) for r in await runner.rebuild_all()}
    finally:
        await runner.store.close()
