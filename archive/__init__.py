"""The detection archive: every valid detection, searchable by description, sealed per subject.

`kuzet archive run` (`archive.consumer`) writes each detection of `kuzet.detections.v1` to
`detection_archive` (`archive.store`: PostgreSQL partitioned by day, SQLite locally) with its
personal values sealed under the event store's per-subject keys (`archive.rows`), so a shred
reaches it; `archive.reader.Searcher` answers `searchDetections` and `kuzet search`; the rules
backtest replays its rows. May import `domain` and `eventstore` (DESIGN.md's table).
"""

from archive.errors import ArchiveError, ArchiveStoreError, InvalidSearch, RowRefused

__all__ = ["ArchiveError", "ArchiveStoreError", "InvalidSearch", "RowRefused"]
