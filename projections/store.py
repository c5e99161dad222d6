"""The read-model store port: documents per view plus each view's tracked log position.

Every write moves a view's position in the same transaction as its documents, guarded by the
position the batch started from (`PositionConflictError` if a rebuild moved it meanwhile), so a
crash at any point resumes without loss or double-apply. `replace` fills a fresh table and
swaps it in atomically with the new position. Implementations: `SqliteStore`, `PostgresStore`.

Freshness: the runner that follows the log writes a heartbeat (`heartbeat`, the database's
own clock, so hosts' clocks never matter) while it runs, and marks it stopped when it stops
cleanly; `freshness(view)` reads a view's position with the heartbeat's age, which is how a
reader (the API) tells a current view from an absent, abandoned or lagging one.

Tables (`schema_statements`, also what `kuzet db migrate` creates): `proj_tracking` (view,
position), `proj_heartbeat` (runner, beat_at_us, stopped) and one `proj_<view>` per view.
On PostgreSQL every DDL transaction first takes `SCHEMA_LOCK`, the advisory lock the event
store and the adapter state take too, so processes started together never race.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from projections.errors import ProjectionError

__all__ = ["RUNNER", "SCHEMA_LOCK", "Freshness", "ViewStore", "schema_statements", "table_for"]

SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('kuzet.schema'))"
"""PostgreSQL: taken first by every transaction that creates Kuzet tables (any package)."""
RUNNER = "projections"
"""The heartbeat row of `kuzet projections run` (one runner feeds every view)."""

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def table_for(view: str) -> str:
    """The table holding `view`'s documents (names are checked: they end up in SQL)."""
    if not _NAME.match(view):
        raise ProjectionError(f"view name {view!r} must match {_NAME.pattern}")
    return f"proj_{view}"


def schema_statements(views: Collection[str], *, big: str) -> list[str]:
    """Idempotent DDL for the store and `views` (`big`: the dialect's 64-bit integer type);
    a view not built yet gets its empty table and position 0."""
    out = [f"CREATE TABLE IF NOT EXISTS proj_tracking (view TEXT PRIMARY KEY, position {big} "
           "NOT NULL)",
           f"CREATE TABLE IF NOT EXISTS proj_heartbeat (runner TEXT PRIMARY KEY, beat_at_us "
           f"{big} NOT NULL, stopped INTEGER NOT NULL)"]
    for view in sorted(views):
        out += [f"CREATE TABLE IF NOT EXISTS {table_for(view)} (key TEXT PRIMARY KEY, "
                "doc TEXT NOT NULL)",
                f"INSERT INTO proj_tracking VALUES ('{view}', 0) ON CONFLICT DO NOTHING"]  # noqa: S608 (checked name)
    return out


@dataclass(frozen=True, slots=True)
class Freshness:
    """How current a view is, as its store knows it.

    `position`: the view's log position (None: the view has no table, never set up);
    `heartbeat_age_s`: seconds since the runner last reported (None: no runner ever has);
    `stopped`: the runner's last report was its clean stop.
    """

    position: int | None
    heartbeat_age_s: float | None
    stopped: bool


class ViewStore(Protocol):
    async def setup(self, views: Collection[str]) -> None:
        """Create missing tables; a new view starts at position 0."""

    async def position(self, view: str) -> int: ...

    async def get_many(self, view: str, keys: Collection[str]) -> dict[str, str]:
        """The stored texts of those `keys` that exist."""

    async def commit(self, view: str, upserts: Mapping[str, str], deletes: Collection[str],
                     expected: int, position: int) -> None:
        """Write documents and move the position from `expected` to `position`, atomically."""

    async def replace(self, view: str, docs: Mapping[str, str], position: int) -> None:
        """Swap in a fresh table holding exactly `docs`, at `position`, atomically."""

    async def texts(self, view: str) -> tuple[int, dict[str, str]]:
        """The position and every document's text, read consistently."""

    async def scrub(self) -> None:
        """Make overwritten and deleted document texts unrecoverable from the store's files
        (called after a personal-data erasure was applied)."""

    async def heartbeat(self, *, stopped: bool = False) -> None:
        """Record that the runner is alive now (or, with `stopped`, that it has stopped)."""

    async def freshness(self, view: str) -> Freshness:
        """The view's position and the runner's last heartbeat, read together."""

    async def close(self) -> None: ...
