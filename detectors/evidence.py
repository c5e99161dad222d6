"""Evidence store: JPEG snapshots in a local directory, content-addressed by sha256.

A snapshot is written once to `<root>/<first two hex>/<sha256>.jpg` (`domain.evidence`; written
to a temporary name and renamed, so a reader never sees half a file) and referenced from a
detection by `snapshot.uri` (a `file://` URI) and `snapshot.sha256`, the digest of the file's
bytes computed here as it is written: the API checks it before serving the image, and it stays
on the incident as proof of the image after a shred or retention deletes the file
(`audit.retention`). Identical images share one file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from detectors.errors import EvidenceError
from domain.detection import Snapshot
from domain.evidence import evidence_relpath

__all__ = ["EvidenceStore"]


class EvidenceStore:
    """Writes JPEGs under `root`; `put` returns the `Snapshot` reference."""

    def __init__(self, root: Path, quality: int = 85) -> None:
        self.root = root.resolve()
        self.quality = quality

    def put(self, image: np.ndarray) -> Snapshot:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise EvidenceError(f"cannot encode a {image.shape} image as JPEG")
        data = encoded.tobytes()
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_of(digest)
        if not path.exists():
            self._write(path, data)
        return Snapshot(uri=path.as_uri(), sha256=digest)

    def path_of(self, digest: str) -> Path:
        return self.root / evidence_relpath(digest)

    def _write(self, path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise EvidenceError(f"cannot write snapshot {path}: {exc}") from None
