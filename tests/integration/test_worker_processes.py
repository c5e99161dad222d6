"""`kuzet worker --processes 2`: two worker processes on one host share the consumer groups.

A `LocalStack` on a real embedded broker spawns `kuzet worker --processes 2`; each child answers
/readyz on its own health port (KUZET_HEALTH_PORT and the next one) and, once the group has
settled, owns its own share of both topics' partitions; detections of four sites open four
incidents; a SIGTERM to the parent stops both children and the parent exits 0.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.topics import CORRELATION, DETECTIONS
from kuzet.bench_correlate import _EvidenceCounter, _records
from kuzet.commands.core import publish_records
from tests.integration.stack_helpers import local_stack, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _hops(port: int) -> dict[str, set[int]] | None:
    """Each hop's partitions, from a ready child's /readyz; None while it is not ready."""
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    return {h["topic"]: set(h["partitions"]) for h in answer.json()["hops"]}


def _split(ports: list[int]) -> bool:
    """Both children ready, and each topic's partitions split between them, all owned."""
    seen: list[dict[str, Any]] = [h for h in map(_hops, ports) if h is not None]
    if len(seen) != 2:
        return False
    return all(seen[0][t] and seen[1][t] and not seen[0][t] & seen[1][t]
               and seen[0][t] | seen[1][t] == {0, 1, 2, 3} for t in (DETECTIONS, CORRELATION))


def test_two_worker_processes_share_the_partitions_and_stop_on_sigterm(tmp_path: Path) -> None:
    with local_stack(tmp_path) as stack:
        stack.restart = False
        stack.spawn("worker", ["worker", "--processes", "2"])
        port = stack.children["worker"].health_port
        wait_for(stack, lambda: _split([port, port + 1]), "two children sharing the partitions")

        durable = _EvidenceCounter(stack.settings)
        asyncio.run(publish_records(stack.bootstrap, _records(12, 4, datetime.now(UTC)),
                                    DETECTIONS))
        wait_for(stack, lambda: durable() >= 12, "four incidents from four sites")
        durable.app.close()
        assert stack.stop() == {"worker": 0}
