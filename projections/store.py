"""The read-model store port: documents per view plus each view's tracked log position.

Every write moves a view's position in the same transaction as its documents, guarded by the
position the batch started from (`PositionConflictError` if a rebuild moved it meanwhile), so a
crash at any point resumes without loss or double-apply. `replace` fills a fresh table and
swaps it in atomically with the new position. Implementations: `SqliteStore`, `PostgresStore`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Protocol

from projections.errors import ProjectionError

__all__ = ["ViewStore", "table_for"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def table_for(view: str) -> str:
    """The table holding `view`'s documents (names are checked: they end up in SQL)."""
    if not _NAME.match(view):
        raise ProjectionError(f"view name {view!r} must match {_NAME.pattern}")
    return f"proj_{view}"


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

    async def close(self) -> None: ...
