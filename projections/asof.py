"""Time travel: any view as the system knew it at instant T.

"Knew" means recorded: an event counts once the event store committed it (the audit chain's
`recorded_at`, the database clock), not by the time the event itself claims. Because the
recorded times never decrease along the notification log, "recorded at or before T" is a
prefix of the log, 1..`position_at(T)`; folding the views over that prefix in memory gives
each view exactly as a live runner caught up at T would have held it.

The log comes in as a `RecordedLog` (a `NotificationSource` that can also answer
`position_at`), so callers that may not import the audit package (the API) get one handed in by
the composition root.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.log import NotificationSource
from projections.views.base import Doc, View, fold
from projections.views.board import OperatorBoard

__all__ = ["AsOf", "RecordedLog", "board_as_of", "fold_log", "fold_views", "view_as_of"]


class RecordedLog(NotificationSource, Protocol):
    def position_at(self, instant: datetime) -> int:
        """The last log position recorded at or before `instant` (0: none yet)."""


@dataclass(frozen=True, slots=True)
class AsOf:
    """A view's documents by key as they stood at log `position`, the last known at `at`."""

    view: str
    at: datetime
    position: int
    rows: dict[str, Doc]


def fold_log(source: NotificationSource, view: View, upto: int, *, first: int = 1,
             batch: int = 10_000, keep: Callable[[int, str], bool] | None = None
             ) -> dict[str, Doc]:
    """Fold `view` over the log's events at positions `first`..`upto`, in memory.

    `keep(position, originator_id)`, if given, selects which of those events count (an
    auditor's partial export is compared against the same selection of the live log).
    """
    return fold_views(source, [view], upto, first=first, batch=batch, keep=keep)[view.name]


def fold_views(source: NotificationSource, views: Sequence[View], upto: int, *,
               first: int = 1, batch: int = 10_000,
               keep: Callable[[int, str], bool] | None = None) -> dict[str, dict[str, Doc]]:
    """Fold several views over one read of the log (reading and decoding cost more than
    folding): each view's documents by key, by view name."""
    docs: dict[str, dict[str, Doc]] = {v.name: {} for v in views}
    start = first
    while start <= upto:
        page = source.read(start, min(batch, upto - start + 1))
        page = [e for e in page if e.position <= upto]
        if not page:
            break
        events = page if keep is None else [e for e in page
                                            if keep(e.position, e.originator_id)]
        for view in views:
            mine = docs[view.name]
            for key, doc in fold(view, mine, events).items():
                if doc is None:
                    mine.pop(key, None)
                else:
                    mine[key] = doc
        start = page[-1].position + 1
    return docs


def view_as_of(log: RecordedLog, view: View, at: datetime) -> AsOf:
    """`view` as the system knew it at `at`."""
    position = log.position_at(at)
    return AsOf(view.name, at, position, fold_log(log, view, position))


def board_as_of(log: RecordedLog, at: datetime) -> AsOf:
    """The operator board's rows (every incident not yet closed) as known at `at`."""
    return view_as_of(log, OperatorBoard(), at)
