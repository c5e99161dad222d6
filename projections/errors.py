"""Errors raised by projections.

    ProjectionError
    ├── UnknownViewError         no view has the given name
    ├── PositionConflictError    another writer (a rebuild) moved a view's position meanwhile
    └── StoreUnavailableError    the read-model database cannot be opened or reached
"""

from __future__ import annotations

__all__ = ["PositionConflictError", "ProjectionError", "StoreUnavailableError", "UnknownViewError"]


class ProjectionError(Exception):
    """Base of every error projections raise on purpose."""


class UnknownViewError(ProjectionError):
    """Raised when a command names a view that does not exist; the message lists the known."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown view {name!r}; known: {', '.join(sorted(known))}")


class PositionConflictError(ProjectionError):
    """Raised when a view's stored position is not the one a batch started from."""

    def __init__(self, view: str, expected: int) -> None:
        super().__init__(f"view {view!r} is no longer at position {expected}")


class StoreUnavailableError(ProjectionError):
    """Raised when the read-model store cannot be opened; the message names the store."""
