"""The hash chain over the event store's notification log: verification, and the link
primitives of `eventstore.links` re-exported (the one import for the chain's users).

`verify_chain(source, anchors)` reads a `ChainSource` (the log joined with the chain, as the
recorders in `eventstore.store_sqlite` and `eventstore.store_postgres` serve it) page by page,
checks every link (its predecessor, the hash it carries, the content it vouches for) and stops
at the first break. Only then does it look further ahead, once, to tell an edited event from one
that was moved, slipped in or taken out (later events renumbered to hide it). Anchors written
down earlier (`kuzet audit anchor`) prove that the history up to them has not been rewritten,
which the chain alone cannot: anyone can recompute a whole chain consistently."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from eventstore.links import (
    GENESIS,
    Anchor,
    ChainedEvent,
    ChainError,
    Link,
    extend,
    from_us,
    link_hash,
    parse_anchors,
    to_us,
)

__all__ = ["GENESIS", "Anchor", "Break", "BreakKind", "ChainError", "ChainSource", "ChainedEvent",
           "Link", "Verification", "extend", "from_us", "link_hash", "parse_anchors", "to_us",
           "verify_chain"]


class ChainSource(Protocol):
    """What verification reads: the log joined with the chain, and chain rows by position."""

    def read_chained(self, start: int, limit: int) -> Sequence[ChainedEvent]:
        """Up to `limit` stored events at positions >= `start`, in log order, with links."""

    def links(self, start: int, stop: int | None = None) -> Sequence[Link]:
        """Chain rows with `start <= position <= stop` (None: to the end), in order."""


class BreakKind(str, Enum):
    EDITED = "edited"
    """The event (or its link) at the position no longer hashes to what the chain recorded."""
    DELETED = "deleted"
    """The chain vouches for an event at the position that the log no longer holds."""
    INSERTED = "inserted"
    """The log holds an event at the position that the chain never recorded there."""
    REORDERED = "reordered"
    """The event at the position is one the chain recorded at another position."""
    REWRITTEN = "rewritten"
    """The chain is self-consistent but disagrees with an anchor taken earlier."""


@dataclass(frozen=True, slots=True)
class Break:
    position: int
    kind: BreakKind
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.value} at position {self.position}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Verification:
    checked: int
    """Events whose links were checked before the first break (all of them if intact)."""
    last: Link | None
    seconds: float
    broken: Break | None
    anchors: int = 0
    """Anchors proven (0 when a break came first)."""

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def rate(self) -> float:
        return self.checked / max(self.seconds, 1e-9)


def _pages(source: ChainSource, start: int, batch: int) -> Iterator[ChainedEvent]:
    while page := source.read_chained(start, batch):
        yield from page
        start = page[-1].position + 1


def verify_chain(source: ChainSource, anchors: Sequence[Anchor] = (), *,
                 batch: int = 5000) -> Verification:
    """Walk the whole log with its chain; the first break (kind and position), or none."""
    began = time.perf_counter()
    wanted = {a.position for a in anchors}
    seen: dict[int, bytes] = {}
    last: Link | None = None
    checked = 0
    grown = True
    while grown:  # again while writers appended as the walk ended
        for event in _pages(source, (last.position if last else 0) + 1, batch):
            broken = _check(source, event, last, batch)
            if broken is not None:
                return Verification(checked, last, time.perf_counter() - began, broken)
            last = event.link
            checked += 1
            if event.position in wanted:
                seen[event.position] = event.link.hash  # type: ignore[union-attr]
        grown, beyond = _beyond(source, (last.position if last else 0) + 1)
    broken = _tail(beyond) or _against_anchors(anchors, seen, last)
    return Verification(checked, last, time.perf_counter() - began, broken,
                        0 if broken else len(anchors))


def _check(source: ChainSource, event: ChainedEvent, last: Link | None,
           batch: int) -> Break | None:
    link = event.link
    last_position, last_hash = (last.position, last.hash) if last else (0, GENESIS)
    if link is None:
        return Break(event.position, BreakKind.INSERTED, "the log holds an event the chain "
                     "never recorded (forged, or written around the chained recorder)")
    if link.prev_position > last_position:
        missing = source.links(last_position + 1, event.position - 1)
        first = missing[0].position if missing else link.prev_position
        return Break(first, BreakKind.DELETED, f"the chain recorded an event at {first} that "
                     "the log no longer holds")
    if link.prev_position < last_position:
        return Break(last_position, BreakKind.INSERTED, f"the chain links {event.position} to "
                     f"{link.prev_position}, so the event at {last_position} was slipped in")
    if link.prev_hash != last_hash:
        return Break(last_position, BreakKind.EDITED, f"its link was rewritten: the link at "
                     f"{event.position} still holds the hash it had")
    if not event.fits(link):
        return _classify(source, event, batch)
    return None


def _classify(source: ChainSource, event: ChainedEvent, batch: int) -> Break:
    """Why the event at a position does not fit its link: moved, shifted or edited.

    Looks ahead once (only after a break): where does this event's content fit a later link,
    and which later event fits this position's link?
    """
    here = event.link
    assert here is not None  # _check tested it
    belongs_at = fitting_here = None
    for later in _pages(source, event.position + 1, batch):
        if belongs_at is None and later.link is not None and event.fits(later.link):
            belongs_at = later.position
        if fitting_here is None and later.fits(here):
            fitting_here = later.position
        if belongs_at is not None and fitting_here is not None:
            break
    p = event.position
    if belongs_at is not None and belongs_at == fitting_here:
        return Break(p, BreakKind.REORDERED, f"the events at {p} and {belongs_at} were swapped")
    if fitting_here is not None and belongs_at is None:
        return Break(p, BreakKind.INSERTED, f"an event was slipped in at {p}: the one the chain "
                     f"recorded there now sits at {fitting_here}")
    if belongs_at is not None and fitting_here is None:
        return Break(p, BreakKind.DELETED, f"the event the chain recorded at {p} is gone and "
                     f"later events moved up (the one now at {p} belongs at {belongs_at})")
    if belongs_at is not None:
        return Break(p, BreakKind.REORDERED, f"the event at {p} belongs at {belongs_at}")
    return Break(p, BreakKind.EDITED, "the stored event no longer hashes to its link")


def _beyond(source: ChainSource, start: int) -> tuple[bool, Sequence[Link]]:
    """(grown, links from `start` on) once the walk ran out of events.

    Events and their links commit together and the links are read first, so links with no
    event after them are a deleted tail; links whose events are there now are a writer's
    commit that raced the end of the walk: the log grew, walk on (`verify` on a live store).
    """
    beyond = source.links(start)
    grown = bool(beyond) and bool(source.read_chained(start, 1))
    return grown, beyond


def _tail(beyond: Sequence[Link]) -> Break | None:
    """The chain recorded events past the log's last one: the tail was deleted."""
    if not beyond:
        return None
    first = beyond[0].position
    return Break(first, BreakKind.DELETED, f"the chain recorded {len(beyond)} event(s) from "
                 f"{first} on that the log no longer holds")


def _against_anchors(anchors: Sequence[Anchor], seen: dict[int, bytes],
                     last: Link | None) -> Break | None:
    for anchor in sorted(anchors, key=lambda a: a.position):
        if anchor.position not in seen:
            head = last.position if last else 0
            return Break(anchor.position, BreakKind.DELETED, f"anchored on {anchor.anchored_at} "
                         f"but the log (head {head}) no longer holds it")
        if seen[anchor.position] != anchor.hash:
            return Break(anchor.position, BreakKind.REWRITTEN, "the chain up to here was "
                         f"rewritten since the anchor of {anchor.anchored_at}")
    return None
