"""What a view is: a name, a key per event, and a pure fold of one event into one document.

A document (`Doc`) is a JSON-safe dict. `apply(doc, event)` returns the new document, or None
to delete it (or to ignore an event for a document that does not exist). Views never read a
clock or the store: the runner fetches the documents a batch touches and writes the results
with the view's position in one transaction, and a rebuild runs the same fold in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from domain.log import LogEvent

__all__ = ["Doc", "View", "dumps", "fold", "seconds_between"]

Doc = dict[str, Any]


class View(Protocol):
    name: str

    def key(self, event: LogEvent) -> str | None:
        """The document this event may change, or None if the view ignores it."""

    def apply(self, doc: Doc | None, event: LogEvent) -> Doc | None:
        """The document after `event`; must not mutate `doc`."""


def fold(view: View, docs: Mapping[str, Doc], events: Iterable[LogEvent]) -> dict[str, Doc | None]:
    """Apply `events` over `docs` (the current documents of the keys they touch).

    Returns the touched keys with their new documents (None: absent).
    """
    out: dict[str, Doc | None] = {}
    for event in events:
        key = view.key(event)
        if key is None:
            continue
        current = out[key] if key in out else docs.get(key)
        out[key] = view.apply(current, event)
    return out


def dumps(doc: Doc) -> str:
    """The canonical text of a document (sorted keys, no spaces): what is stored and digested."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
