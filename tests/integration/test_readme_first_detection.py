"""The README's "Publish your first detection", as written: `kuzet publish --now` of the sample
file to a running worker, then `kuzet incidents`: one fire incident at market-7 with three
detections, and the malformed record in the DLQ with its reason."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from domain.topics import DETECTIONS_DLQ
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.kafka import read_topic
from kuzet.settings import load_settings
from kuzet.stack import LocalStack, settings_env

pytestmark = [pytest.mark.broker, pytest.mark.slow]
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "first-detection.jsonl"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with EmbeddedBroker(free_port(), tmp_path / "broker.log") as broker:
        settings = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                                 kafka_url=broker.bootstrap_servers,
                                 consumer_group=f"g-{uuid.uuid4().hex[:8]}",
                                 evidence_interval_s=0.5, tick_interval_s=0.5)
        with LocalStack(settings) as running:
            yield running


def _kuzet(stack: LocalStack, *args: str) -> str:
    env = {**os.environ, **settings_env(stack.settings, stack.bootstrap)}
    done = subprocess.run([sys.executable, "-m", "kuzet", *args], env=env, check=True,
                          capture_output=True, timeout=60)
    return done.stdout.decode()


def _wait(stack: LocalStack, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if done():
            return
        assert stack.procs["worker-0"].poll() is None, "the worker died"
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def _ready(stack: LocalStack) -> bool:
    try:
        return httpx.get(stack.health_url("worker-0", "/readyz"), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_readme_walkthrough(stack: LocalStack) -> None:
    stack.spawn("worker-0", ["worker"])
    _wait(stack, lambda: _ready(stack), "the worker's /readyz")
    assert "published 4 record(s)" in _kuzet(stack, "publish", "--now", str(SAMPLE))

    def incidents() -> list[dict[str, object]]:
        rows: list[dict[str, object]] = json.loads(_kuzet(stack, "incidents", "--json"))
        return rows

    _wait(stack, lambda: [(r["kind"], r["evidence"]) for r in incidents()] == [("fire", 3)],
          "one fire incident with three detections")
    [fire] = incidents()
    assert fire["site_id"] == "market-7" and fire["sources"] == ["cam-market-07"]
    assert "fire" in _kuzet(stack, "incidents") and "market-7" in _kuzet(stack, "incidents")
    [letter] = asyncio.run(read_topic(stack.bootstrap, DETECTIONS_DLQ))
    assert "detection_id='not-a-uuid'" in json.loads(letter)["reason"]
