"""The watch-list: enrolled subjects' face embeddings in SQLite (never their photos).

Each enrolment stores one 128-d float32 embedding with the subject id, an optional label and the
embedding model; a subject may have several. `match` returns the best subject by cosine
similarity when it reaches the threshold.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from detectors.errors import WatchlistError

__all__ = ["Match", "Subject", "Watchlist"]

_DIM = 128
_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id TEXT NOT NULL,
    label TEXT,
    model TEXT NOT NULL,
    embedding BLOB NOT NULL,
    enrolled_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_subject ON embeddings(subject_id);
"""


@dataclass(frozen=True, slots=True)
class Subject:
    subject_id: str
    label: str | None
    embeddings: int
    enrolled_at: str


@dataclass(frozen=True, slots=True)
class Match:
    subject_id: str
    similarity: float


class Watchlist:
    """Embeddings of enrolled subjects in one SQLite file, cached in memory for matching."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._db() as db:
                db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise WatchlistError(f"watch-list {path}: {exc}") from None
        self._cache: tuple[list[str], np.ndarray] | None = None

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path)) as db, db:
            yield db

    def enrol(self, subject_id: str, embedding: np.ndarray, *, model: str,
              label: str | None = None) -> None:
        """Store one embedding for `subject_id`."""
        if not subject_id.strip():
            raise WatchlistError("subject id must not be empty")
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vector.shape != (_DIM,):
            raise WatchlistError(f"embedding for {subject_id!r}: expected {_DIM} values, "
                                 f"got {vector.shape[0]}")
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        with self._db() as db:
            db.execute(
                "INSERT INTO embeddings (subject_id, label, model, embedding, enrolled_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (subject_id, label, model, vector.tobytes(), datetime.now(UTC).isoformat()),
            )
        self._cache = None

    def remove(self, subject_id: str) -> int:
        """Delete every embedding of `subject_id`; returns how many were removed."""
        with self._db() as db:
            removed = db.execute("DELETE FROM embeddings WHERE subject_id = ?", (subject_id,))
        self._cache = None
        return removed.rowcount

    def subjects(self) -> list[Subject]:
        with self._db() as db:
            rows = db.execute(
                "SELECT subject_id, MAX(label), COUNT(*), MIN(enrolled_at) FROM embeddings "
                "GROUP BY subject_id ORDER BY subject_id"
            ).fetchall()
        return [Subject(*row) for row in rows]

    def _matrix(self) -> tuple[list[str], np.ndarray]:
        if self._cache is None:
            with self._db() as db:
                rows = db.execute("SELECT subject_id, embedding FROM embeddings").fetchall()
            ids = [r[0] for r in rows]
            vectors = [np.frombuffer(r[1], dtype=np.float32) for r in rows]
            matrix = np.stack(vectors) if vectors else np.zeros((0, _DIM), np.float32)
            self._cache = (ids, matrix)
        return self._cache

    def match(self, embedding: np.ndarray, threshold: float) -> Match | None:
        """The most similar enrolled subject if its cosine similarity >= `threshold`."""
        ids, matrix = self._matrix()
        if not ids:
            return None
        sims = matrix @ np.asarray(embedding, dtype=np.float32).reshape(-1)
        best = int(sims.argmax())
        similarity = float(sims[best])
        return Match(ids[best], similarity) if similarity >= threshold else None
