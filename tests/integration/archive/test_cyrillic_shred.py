"""A plate shred typed in Cyrillic reaches every read of the plate (SQLite and PostgreSQL).

The event store keys a plate as read (a Cyrillic OCR read and a Latin one are two keys and two
incidents); the archive keys both under the Latin-folded plate. `kuzet privacy shred
plate:<Cyrillic>` must destroy all three keys: afterwards neither incident nor any archived
detection opens to the plate, no table or SQLite file holds it, and its search tags go.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archive.consumer import ArchiveConsumer
from archive.search import SearchFilter
from audit.retention import shred_subject
from domain.erasure import DataClass
from domain.privacy import SHREDDED
from streams.engine import CorrelationEngine
from tests.helpers import T0, det
from tests.integration.archive.test_archive_store import CYRILLIC_PLATE, PLATE, _det, parts
from tests.integration.privacy.conftest import RULES, found, keystore_of, raw_files, stored_values

__all__ = ["parts"]  # the fixture, shared with test_archive_store


async def test_a_cyrillic_shred_reaches_both_scripts_in_store_and_archive(
        parts: Any, sealed_env: dict[str, str], tmp_path: Path) -> None:
    app, _, archiver, searcher = parts
    engine = CorrelationEngine(app, RULES, evidence_interval=timedelta(0))
    reads = [det("plate_match", source=f"cam-{n}", seconds=n, conf=0.9, attributes={"plate": p})
             for n, p in ((1, CYRILLIC_PLATE), (2, PLATE))]
    await engine.process(0, [(d, d.detection_id) for d in reads], T0 + timedelta(seconds=3))
    engine.close()
    incidents = list(app.incidents())
    assert sorted(i.subject["plate"] for i in incidents) == sorted([CYRILLIC_PLATE, PLATE])
    assert archiver.take([_det(1, plate=CYRILLIC_PLATE), _det(2, plate=PLATE)]) == 2

    keys = keystore_of(app)
    done = shred_subject(app, keys, f"plate:{CYRILLIC_PLATE}", reason="request of the owner",
                         actor="operator:dpo", at=datetime.now(UTC))
    assert done is not None
    assert sorted(done.keys.values()).count(DataClass.PLATE.value) == 2  # the Latin key is the archive's too
    for incident in app.incidents():
        assert incident.subject["plate"] == SHREDDED and incident.incident_key == SHREDDED
    hits = searcher.search(SearchFilter()).hits
    assert len(hits) == 2 and not {h.plate for h in hits} & {PLATE, CYRILLIC_PLATE}
    assert searcher.search(SearchFilter(plate=PLATE)).hits == []
    consumer = ArchiveConsumer("unused:9092", archiver, keys, lambda: datetime.now(UTC),
                               group_id=f"unused-{uuid.uuid4().hex[:6]}")
    assert consumer.forget_shredded() == 2

    needles = [PLATE, CYRILLIC_PLATE, json.dumps(CYRILLIC_PLATE)[1:-1]]
    assert not [t for t, v in stored_values(sealed_env) if found(needles, v)]
    assert not [p for p in raw_files(sealed_env) if found(needles, p.read_bytes())]
    archive_file = tmp_path / "archive.sqlite"
    if archive_file.exists():
        assert not found(needles, archive_file.read_bytes())
