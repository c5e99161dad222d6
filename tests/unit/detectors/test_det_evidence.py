"""Evidence store: content-addressed JPEG snapshots."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from detectors.evidence import EvidenceStore


def test_snapshot_is_content_addressed_and_deduplicated(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    image = np.zeros((16, 16, 3), np.uint8)
    image[4:8] = 200
    first, second = store.put(image), store.put(image.copy())
    assert first == second
    path = Path(urlsplit(first.uri).path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == first.sha256
    assert path.parent.name == first.sha256[:2]
    assert len(list(tmp_path.rglob("*.jpg"))) == 1
    assert not list(tmp_path.rglob("*.part"))
    assert store.put(np.ones((16, 16, 3), np.uint8)).sha256 != first.sha256
