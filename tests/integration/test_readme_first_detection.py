"""The README's "Publish your first detection", as written: `kuzet publish --now` of the sample
file to a running worker, then `kuzet incidents`: one fire incident at market-7 with three
detections, and the malformed record in the DLQ with its reason."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.topics import DETECTIONS_DLQ
from kuzet.kafka import read_topic
from kuzet.stack import LocalStack, settings_env
from tests.integration.stack_helpers import local_stack, start_worker, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "first-detection.jsonl"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with local_stack(tmp_path) as running:
        yield running


def _kuzet(stack: LocalStack, *args: str) -> str:
    env = {**os.environ, **settings_env(stack.settings, stack.bootstrap)}
    done = subprocess.run([sys.executable, "-m", "kuzet", *args], env=env, check=True,
                          capture_output=True, timeout=60)
    return done.stdout.decode()


def test_the_readme_walkthrough(stack: LocalStack) -> None:
    start_worker(stack)
    assert "published 4 record(s)" in _kuzet(stack, "publish", "--now", str(SAMPLE))

    def incidents() -> list[dict[str, object]]:
        rows: list[dict[str, object]] = json.loads(_kuzet(stack, "incidents", "--json"))
        return rows

    wait_for(stack, lambda: [(r["kind"], r["evidence"]) for r in incidents()] == [("fire", 3)],
          "one fire incident with three detections")
    [fire] = incidents()
    assert fire["site_id"] == "market-7" and fire["sources"] == ["cam-market-07"]
    assert "fire" in _kuzet(stack, "incidents") and "market-7" in _kuzet(stack, "incidents")
    [letter] = asyncio.run(read_topic(stack.bootstrap, DETECTIONS_DLQ))
    assert "detection_id='not-a-uuid'" in json.loads(letter)["reason"]
