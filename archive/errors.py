"""The archive's errors.

    ArchiveError
    ├── ArchiveStoreError   the archive database is unreachable or its URL unusable
    ├── RowRefused          the database refused a value of a batch (the ingest retries the
    │                       batch row by row and skips the refused row: a poison record)
    └── InvalidSearch       a search filter or cursor is malformed (the message names it)
"""

from __future__ import annotations

__all__ = ["ArchiveError", "ArchiveStoreError", "InvalidSearch", "RowRefused"]


class ArchiveError(Exception):
    """Base of the errors the detection archive raises on purpose."""


class ArchiveStoreError(ArchiveError):
    """Raised when the archive database URL is unusable or the database refuses a statement."""


class InvalidSearch(ArchiveError):
    """Raised for a malformed search: an unknown kind or colour, a bad time range, polygon,
    page size or cursor. The message names the field and the value."""


class RowRefused(ArchiveError):
    """Raised when the database refuses a value of a batch being written (a NUL byte in a
    text on PostgreSQL, say); the message is the database's."""
