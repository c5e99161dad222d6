"""`kuzet archive run` on the real broker: every valid detection archived once, the poison one
skipped, offsets committed to the end of the topic, and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archive.store import open_archive
from domain.topics import DETECTIONS
from kuzet.commands.core import publish_records
from tests.integration.stack_helpers import _settled, local_stack, ready, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _record(n: int) -> tuple[bytes, bytes]:
    at = datetime.now(UTC) - timedelta(minutes=5) + timedelta(milliseconds=n)
    value = {"detection_id": str(uuid.UUID(int=n + 1)), "source_id": f"cam-{n % 7}",
             "source_kind": "camera", "kind": "vehicle", "confidence": 0.8,
             "observed_at": at.isoformat(), "attributes": {"class": "car", "colour": "blue",
                                                           "plate": f"B{n:03d}XY02"}}
    return value["source_id"].encode(), json.dumps(value).encode()


def test_archive_run_archives_commits_and_stops(tmp_path: Path) -> None:
    with local_stack(tmp_path) as stack:
        stack.spawn("archive", ["archive", "run"])
        wait_for(stack, lambda: ready(stack, "archive"), "the archiver's /readyz")
        records = [_record(n) for n in range(1500)]
        records.insert(700, (b"cam-x", b"\xff not json"))
        asyncio.run(publish_records(stack.bootstrap, records + records[:200], DETECTIONS))
        group = f"{stack.settings.consumer_group}.archive"
        wait_for(stack, lambda: asyncio.run(_settled(stack.bootstrap, group, DETECTIONS)),
                 "the archiver's commits at the end of the topic")
        store = open_archive(stack.settings.archive_location)
        try:
            assert store.count() == 1500
        finally:
            store.close()
        assert stack.stop() == {"archive": 0}
