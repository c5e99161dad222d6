"""Where an evidence image lives in the evidence store, by its digest (no I/O here).

The detectors' store (`detectors.evidence.EvidenceStore`) writes each JPEG once under its
sha256: `<root>/<first two hex digits>/<sha256>.jpg`. The API serves images from that layout
and retention deletes them from it, both by digest only: a reference (`snapshot.uri`) is never
opened as a path, so no stored value can point a reader outside the store.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

__all__ = ["SHA256", "evidence_relpath", "is_digest"]

SHA256 = re.compile(r"[0-9a-f]{64}")
"""A sha256 as the contract writes it: 64 lower-case hex digits."""


def is_digest(text: str) -> bool:
    return SHA256.fullmatch(text) is not None


def evidence_relpath(digest: str) -> PurePosixPath:
    """The image's path relative to the store's root; refuses anything but a digest."""
    if not is_digest(digest):
        raise ValueError(f"{digest[:80]!r} is not a sha256 (64 lower-case hex digits)")
    return PurePosixPath(digest[:2], f"{digest}.jpg")
