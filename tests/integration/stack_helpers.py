"""A local stack for end-to-end tests: the embedded broker, settings for a fresh data folder,
`kuzet` processes started through `LocalStack`, and waits on real signals (a process's
`/readyz`, the store) that fail early when a process dies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kuzet.broker import EmbeddedBroker, free_port
from kuzet.settings import load_settings
from kuzet.stack import LocalStack

__all__ = ["local_stack", "ready", "start_worker", "wait_for"]


@contextmanager
def local_stack(tmp_path: Path, **settings: Any) -> Iterator[LocalStack]:
    """A stack on its own broker and data folder; fast evidence flushes and timers."""
    with EmbeddedBroker(free_port(), tmp_path / "broker.log") as broker:
        values = {"data_dir": str(tmp_path / "data"), "kafka_url": broker.bootstrap_servers,
                  "consumer_group": f"g-{uuid.uuid4().hex[:8]}", "evidence_interval_s": 0.5,
                  "tick_interval_s": 0.5, **settings}
        with LocalStack(load_settings(environ={}, **values)) as running:
            yield running


def wait_for(stack: LocalStack, done: Callable[[], bool], what: str, *,
             timeout_s: float = 90, between: Callable[[], None] | None = None) -> None:
    """Polls `done()` (calling `between()` first each time) until it holds; fails naming
    `what`, or at once when one of the stack's processes exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if between is not None:
            between()
        if done():
            return
        for name, proc in stack.procs.items():
            assert proc.poll() is None, f"{name} exited with {proc.returncode}"
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def ready(stack: LocalStack, name: str) -> bool:
    """Whether process `name` answers 200 on `/readyz`."""
    try:
        return httpx.get(stack.health_url(name, "/readyz"), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_worker(stack: LocalStack, name: str = "worker-0") -> None:
    """`kuzet worker`, returning once it is ready (consumers joined)."""
    stack.spawn(name, ["worker"])
    wait_for(stack, lambda: ready(stack, name), f"{name}'s /readyz")
