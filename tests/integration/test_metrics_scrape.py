"""Every long-running process of a stack serves Prometheus metrics and JSON log lines.

A `LocalStack` on a real embedded broker spawns `kuzet worker`, `kuzet relay`,
`kuzet projections run` and `kuzet cameras watch` with `KUZET_LOG_FORMAT=json`; once each
answers /readyz, its /metrics (on its health port) is scraped and parsed with
prometheus_client's own parser; after a SIGTERM to each, every line the worker logged (Faust's
start and stop included) parses as JSON.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kuzet.broker import EmbeddedBroker, free_port
from kuzet.settings import load_settings
from kuzet.stack import LocalStack

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PROCESSES = {
    "worker": (["worker"], {"kuzet_stream_dead_letters", "kuzet_correlator_skipped",
                            "kuzet_correlator_below_rule_matches"}),
    "relay": (["relay"], {"kuzet_stream_dead_letters"}),
    "projections": (["projections", "run"], {"kuzet_projection_lag"}),
    "cameras": (["cameras", "watch"], {"kuzet_camera_sources_down", "kuzet_camera_health_records",
                                       "kuzet_camera_offline_records"}),
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with EmbeddedBroker(free_port(), tmp_path / "broker.log") as broker:
        settings = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                                 kafka_url=broker.bootstrap_servers,
                                 consumer_group=f"g-{uuid.uuid4().hex[:8]}",
                                 log_format="json", log_level="info")
        with LocalStack(settings) as running:
            running.restart = False
            yield running


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def _wait_ready(stack: LocalStack, names: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    waiting = set(names)
    while waiting:
        for name, proc in stack.procs.items():
            assert proc.poll() is None, (
                f"{name} exited with {proc.returncode}: "
                f"{(stack.logs / f'{name}.log').read_text(errors='replace')[-2000:]}")
        waiting = {n for n in waiting if _status(stack.health_url(n, "/readyz")) != 200}
        if waiting and time.monotonic() > deadline:
            pytest.fail(f"not ready after {timeout:.0f}s: {sorted(waiting)}")
        time.sleep(0.2)


def test_each_process_serves_its_kuzet_metrics_and_logs_json(stack: LocalStack) -> None:
    for name, (args, _) in PROCESSES.items():
        stack.spawn(name, args)
    _wait_ready(stack, list(PROCESSES))

    for name, (_, expected) in PROCESSES.items():
        answer = httpx.get(stack.health_url(name, "/metrics"), timeout=5)
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith("text/plain"), name
        families = {f.name: f for f in text_string_to_metric_families(answer.text)}
        assert expected <= set(families), (name, sorted(n for n in families
                                                        if n.startswith("kuzet_")))
    lag = {f.name: f for f in text_string_to_metric_families(
        httpx.get(stack.health_url("projections", "/metrics"), timeout=5).text)}
    views = {s.labels["view"]: s.value for s in lag["kuzet_projection_lag"].samples}
    assert views and all(v >= 0 for v in views.values()), views  # reported, not just declared

    assert stack.stop() == dict.fromkeys(PROCESSES, 0)  # SIGTERM: each exits cleanly
    lines = [line for line in (stack.logs / "worker.log").read_text().splitlines() if line]
    assert lines, "the worker logged nothing at INFO"
    entries = [json.loads(line) for line in lines]  # every line, Faust's included
    assert all({"timestamp", "level", "logger", "event"} <= set(e) for e in entries)
