"""Late evidence end to end: a real `kuzet worker` on the real broker and store.

A fight opens an incident; an operator resolves it; then detections observed *before* the
resolution arrive (a camera's delayed upload). They join the incident as `LateEvidenceAdded`,
and its status stays RESOLVED. Waits poll the store and stop early if the worker dies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.application import IncidentApp
from domain.incident import Incident
from domain.kinds import Status
from domain.topics import DETECTIONS
from kuzet.commands.core import publish_records
from kuzet.stack import LocalStack
from tests.helpers import default_rules, record
from tests.integration.stack_helpers import local_stack, start_worker, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]
RULES = default_rules()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with local_stack(tmp_path) as running:
        yield running


def _fights(at: datetime, seconds: list[int]) -> list[tuple[bytes, bytes]]:
    recs = [record("fight", source="cam-late", site="yard-5", conf=0.9, at=at, seconds=s)
            for s in seconds]
    return [(r["source_id"].encode(), json.dumps(r).encode()) for r in recs]


def _incident(stack: LocalStack) -> Incident | None:
    app = IncidentApp(stack.settings.event_store_env(), RULES)
    try:
        return next(iter(app.incidents()), None)
    finally:
        app.close()


def test_detections_observed_before_the_resolution_join_it_as_late_evidence(
        stack: LocalStack) -> None:
    start_worker(stack)
    start = datetime.now(UTC) - timedelta(seconds=60)
    asyncio.run(publish_records(stack.bootstrap, _fights(start, [0, 1, 2]), DETECTIONS))
    wait_for(stack, lambda: (i := _incident(stack)) is not None and i.evidence_count == 3,
          "the fight's incident")
    opened = _incident(stack)
    assert opened is not None
    app = IncidentApp(stack.settings.event_store_env(), RULES)
    try:
        app.acknowledge(opened.id, by="op-1", at=datetime.now(UTC))
        app.resolve(opened.id, resolution="separated", by="op-1", at=datetime.now(UTC))
    finally:
        app.close()

    asyncio.run(publish_records(stack.bootstrap, _fights(start, [5, 6]), DETECTIONS))
    wait_for(stack, lambda: (i := _incident(stack)) is not None and i.late_evidence == 2,
          "the late evidence")
    late = _incident(stack)
    assert late is not None and late.status is Status.RESOLVED and late.evidence_count == 5
    app = IncidentApp(stack.settings.event_store_env(), RULES)
    try:
        names = [type(e).__name__ for e in app.history(late.id)]
    finally:
        app.close()
    assert names[-1] == "LateEvidenceAdded" and "Reopened" not in names
