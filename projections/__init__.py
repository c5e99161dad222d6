"""Read models per audience, fed by following the event store's notification log.

Views (`projections.views`) are pure folds; stores (`SqliteStore`, `PostgresStore`) keep each
view's documents and log position together; `ProjectionRunner` follows, rebuilds and verifies.
"""

from __future__ import annotations

from projections.errors import (
    PositionConflictError,
    ProjectionError,
    StoreUnavailableError,
    UnknownViewError,
)
from projections.runner import ProjectionRunner, Rebuilt, Verified, digest
from projections.sqlite_store import SqliteStore
from projections.views import all_views

__all__ = ["PositionConflictError", "ProjectionError", "ProjectionRunner", "Rebuilt",
           "SqliteStore", "StoreUnavailableError", "UnknownViewError", "Verified", "all_views",
           "digest"]
