"""The detection archive on SQLite and PostgreSQL: idempotent ingest, a poison value, search
(plate exact and fuzzy with Cyrillic look-alikes, description, polygon, pages), the search's
records, and a shred that leaves no plaintext and no findable tag."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from archive.audited import AuditedSearch, Who
from archive.consumer import ArchiveConsumer
from archive.ingest import Archiver
from archive.reader import Searcher
from archive.search import SearchFilter
from archive.store import ArchiveStore, open_archive
from audit.retention import shred_subject
from domain.access import ACCESS_TOPIC
from domain.application import IncidentApp
from domain.incident import operator
from domain.searches import SEARCH_TOPIC
from eventstore.sealing import Sealer
from tests.integration.privacy.conftest import PEPPER, keystore_of

PLATE = "A123BC02"
CYRILLIC_PLATE = "\u0410123\u0412\u042102"  # the same plate read by a Cyrillic OCR
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _url(env: dict[str, str], tmp: Path) -> str:
    if "SQLITE_DBNAME" in env:
        return str(tmp / "archive.sqlite")
    return (f"postgresql://{env['POSTGRES_USER']}@{env['POSTGRES_HOST']}:"
            f"{env['POSTGRES_PORT']}/{env['POSTGRES_DBNAME']}")


def _det(n: int, kind: str = "vehicle", **attributes: Any) -> bytes:
    return json.dumps({
        "detection_id": str(uuid.UUID(int=n)), "source_id": f"cam-{n % 3}",
        "source_kind": "camera", "kind": kind, "confidence": 0.9,
        "observed_at": (T0 + timedelta(seconds=n)).isoformat(), "site_id": "site-1",
        "location": {"lat": 43.2 + n / 1000, "lon": 76.9}, "attributes": attributes,
        "snapshot": {"uri": f"s3://snaps/secret-{n}.jpg", "sha256": "a" * 64},
    }).encode()


@pytest.fixture
def parts(sealed_app: IncidentApp, sealed_env: dict[str, str],
          tmp_path: Path) -> Iterator[tuple[IncidentApp, ArchiveStore, Archiver, Searcher]]:
    store = open_archive(_url(sealed_env, tmp_path))
    sealer = Sealer(keystore_of(sealed_app))
    yield (sealed_app, store, Archiver(store, sealer, PEPPER.encode()),
           Searcher(store, sealer, PEPPER.encode()))
    store.close()


def _everything(store: ArchiveStore, env: dict[str, str], tmp: Path) -> bytes:
    """Every value of every archive row, as someone with database access reads it."""
    if "SQLITE_DBNAME" in env:
        with sqlite3.connect(tmp / "archive.sqlite") as conn:
            rows = conn.execute("SELECT * FROM detection_archive").fetchall()
    else:
        with psycopg.connect(_url(env, tmp)) as conn:
            rows = conn.execute("SELECT * FROM detection_archive").fetchall()
    return b"\n".join(str(v).encode() for row in rows for v in row)


def test_archive_ingest_search_and_shred(parts: Any, sealed_env: dict[str, str],
                                         tmp_path: Path) -> None:
    app, store, archiver, searcher = parts
    batch = [_det(1, plate=PLATE, **{"class": "car", "colour": "red"}),
             _det(2, plate=CYRILLIC_PLATE, **{"class": "car", "colour": "red"}),
             _det(3, plate="A128BC02", **{"class": "truck", "colour": "white"}),
             _det(4, kind="person", upper_colour="red", lower_colour="blue"),
             b"{not json", _det(5, kind="fire")]
    assert archiver.take(batch) == 5
    assert archiver.take(batch) == 0  # redelivered: nothing new
    assert store.count() == 5 and archiver.stats.invalid == 2
    # a value the database refuses (NUL on PostgreSQL) costs only its own row
    archiver.take([_det(6, colour="x\u0000y"), _det(7, **{"class": "bus"})])
    assert store.count() in (7, 6) and archiver.stats.written == store.count()

    exact = searcher.search(SearchFilter(plate="a 123 bc 02"))
    assert sorted(h.detection_id[-1] for h in exact.hits) == ["1", "2"]
    assert {h.plate for h in exact.hits} == {PLATE, CYRILLIC_PLATE}
    assert exact.hits[0].snapshot_uri.startswith("s3://snaps/secret-")
    fuzzy = searcher.search(SearchFilter(plate="A123BC02", fuzzy=True))
    assert len(fuzzy.hits) == 3  # A128BC02 is one substitution away
    red_cars = searcher.search(SearchFilter(kinds=("vehicle",), vehicle_type="car",
                                            colours=("red",), start=T0, end=T0 + timedelta(1)))
    assert len(red_cars.hits) == 2
    person = searcher.search(SearchFilter(upper_colour="red", lower_colour="blue"))
    assert [h.kind for h in person.hits] == ["person"]
    square = ((43.2005, 76.8), (43.2005, 77.0), (43.2035, 77.0), (43.2035, 76.8))
    assert {h.detection_id[-1] for h in searcher.search(
        SearchFilter(polygon=square)).hits} == {"1", "2", "3"}
    first = searcher.search(SearchFilter(), first=2)
    rest = searcher.search(SearchFilter(), first=50, after=first.end_cursor)
    assert first.has_next and not rest.has_next
    assert len(first.hits) + len(rest.hits) == store.count()
    assert not {h.detection_id for h in first.hits} & {h.detection_id for h in rest.hits}

    audited = AuditedSearch(searcher, app)
    audited.search(Who("officer-1", "police", "police"), SearchFilter(plate=PLATE), via="test")
    topics = [n.topic for n in app.recorder.select_notifications(start=1, limit=10_000)]
    assert SEARCH_TOPIC in topics and ACCESS_TOPIC in topics

    keys = keystore_of(app)
    shred_subject(app, keys, f"plate:{PLATE}", reason="request of the owner",
                  actor=operator("dpo"), at=datetime.now(UTC))
    held = _everything(store, sealed_env, tmp_path)
    assert PLATE.encode() not in held and CYRILLIC_PLATE.encode() not in held
    assert b"secret-1.jpg" not in held  # snapshot sealed under the plate's key
    assert searcher.search(SearchFilter(plate=PLATE)).hits == []  # before the tag purge too
    consumer = ArchiveConsumer("unused:9092", archiver, keys, lambda: datetime.now(UTC),
                               group_id="unused")
    assert consumer.forget_shredded() == 2  # both reads' tags: they share the folded key
    assert [h.plate for h in searcher.search(SearchFilter(plate=PLATE, fuzzy=True)).hits
            ] == ["A128BC02"]
    assert b"secret-2.jpg" not in _everything(store, sealed_env, tmp_path)


def test_retention_drops_whole_days(parts: Any) -> None:
    _, store, archiver, _ = parts
    old = datetime.now(UTC) - timedelta(days=40)
    record = json.loads(_det(1))
    archiver.take([json.dumps({**record, "observed_at": old.isoformat()}).encode(), _det(2)])
    assert store.count() == 2
    consumer = ArchiveConsumer("unused:9092", archiver, keystore_of(parts[0]),
                               lambda: datetime.now(UTC), group_id="unused")
    assert consumer.apply_retention() == 1  # the day's partition (PostgreSQL) or its row
    assert store.count() == 1
    if hasattr(store, "partitions"):
        assert old.date() not in {day for _, day in store.partitions()}
