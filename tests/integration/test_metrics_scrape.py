"""Every long-running process of a stack serves Prometheus metrics and JSON log lines.

A `LocalStack` on a real embedded broker spawns `kuzet worker`, `kuzet relay`,
`kuzet projections run`, `kuzet cameras watch`, `kuzet api` and `kuzet adapter webhook` with
`KUZET_LOG_FORMAT=json`; once each answers /readyz, its /metrics (on its health port) is
scraped and parsed with prometheus_client's own parser. Detections published to the broker
show up in the worker's counters (records consumed per hop, incidents opened, the observed →
durable histogram, per-partition lag) and a GraphQL request in the API's. After a SIGTERM to
each, every line the worker and the API logged (mode's, aiokafka's and uvicorn's included) parses
as JSON.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.signing import generate
from domain.topics import DETECTIONS
from kuzet.broker import EmbeddedBroker, free_port
from kuzet.commands.api import dev_token, with_dev_secret
from kuzet.commands.core import publish_records
from kuzet.settings import load_settings
from kuzet.stack import LocalStack

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PROCESSES = {
    "worker": (["worker"], {"kuzet_stream_dead_letters", "kuzet_correlator_skipped",
                            "kuzet_correlator_below_rule_matches",
                            "kuzet_correlator_records_consumed", "kuzet_correlator_incidents_opened",
                            "kuzet_correlator_evidence_flushed", "kuzet_correlator_consumer_lag",
                            "kuzet_correlator_durable_seconds"}),
    "relay": (["relay"], {"kuzet_stream_dead_letters"}),
    "projections": (["projections", "run"], {"kuzet_projection_lag"}),
    "cameras": (["cameras", "watch"], {"kuzet_camera_sources_down", "kuzet_camera_health_records",
                                       "kuzet_camera_offline_records"}),
    "api": (["api"], {"kuzet_api_requests", "kuzet_api_errors", "kuzet_api_subscribers",
                      "kuzet_api_slow_consumer_drops", "kuzet_api_delivery_seconds"}),
    "adapter": (["adapter", "webhook", "--agency", "police", "--url", "http://127.0.0.1:9/"],
                {"kuzet_adapter_deliveries", "kuzet_adapter_retries"}),
}


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    # children inherit os.environ (`kuzet.stack.settings_env`): the adapter's signing key
    monkeypatch.setenv("KUZET_ADAPTER_SIGNING_KEY", generate().private_b64)
    with EmbeddedBroker(free_port(), tmp_path / "broker.log") as broker:
        settings = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                                 kafka_url=broker.bootstrap_servers,
                                 consumer_group=f"g-{uuid.uuid4().hex[:8]}",
                                 log_format="json", log_level="info", api_port=free_port())
        with LocalStack(settings) as running:
            running.restart = False
            with_dev_secret(running)
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


def _scrape(stack: LocalStack, name: str) -> dict[str, Any]:
    answer = httpx.get(stack.health_url(name, "/metrics"), timeout=5)
    assert answer.status_code == 200, name
    assert answer.headers["content-type"].startswith("text/plain"), name
    return {f.name: f for f in text_string_to_metric_families(answer.text)}


def _value(families: dict[str, Any], sample: str, **labels: str) -> float:
    family = families[sample.removesuffix("_total").removesuffix("_count")]
    return sum(s.value for s in family.samples
               if s.name == sample and labels.items() <= s.labels.items())


def _detections(n: int) -> list[tuple[bytes | None, bytes]]:
    now = datetime.now(UTC)
    return [(b"cam-1", json.dumps({
        "detection_id": str(uuid.uuid4()), "source_id": "cam-1", "source_kind": "camera",
        "kind": "fire", "confidence": 0.9, "observed_at": (now + timedelta(
            milliseconds=i)).isoformat(), "site_id": "site-1",
        "location": {"lat": 43.25, "lon": 76.95}, "model": {"name": "m", "version": "1"},
    }).encode()) for i in range(n)]


def test_each_process_serves_its_kuzet_metrics_and_logs_json(stack: LocalStack) -> None:
    for name, (args, _) in PROCESSES.items():
        stack.spawn(name, args)
    _wait_ready(stack, list(PROCESSES))

    for name, (_, expected) in PROCESSES.items():
        families = _scrape(stack, name)
        assert expected <= set(families), (name, sorted(n for n in families
                                                        if n.startswith("kuzet_")))
    lag = _scrape(stack, "projections")
    views = {s.labels["view"]: s.value for s in lag["kuzet_projection_lag"].samples}
    assert views and all(v >= 0 for v in views.values()), views  # reported, not just declared

    asyncio.run(publish_records(stack.bootstrap, _detections(5), DETECTIONS))
    deadline = time.monotonic() + 60  # the worker's counters move with real records
    while _value(worker := _scrape(stack, "worker"),
                 "kuzet_correlator_durable_seconds_count") < 5:
        assert time.monotonic() < deadline, sorted(worker)
        time.sleep(0.2)
    assert _value(worker, "kuzet_correlator_records_consumed_total", topic=DETECTIONS) >= 5
    assert _value(worker, "kuzet_correlator_incidents_opened_total", kind="fire") == 1
    assert {s.labels["topic"] for s in worker["kuzet_correlator_consumer_lag"].samples} >= {
        DETECTIONS}
    graphql = f"http://{stack.settings.api_host}:{stack.settings.api_port}/graphql"
    token = {"Authorization": f"Bearer {dev_token(stack.settings)}"}
    answer = httpx.post(graphql, json={"query": "{ __typename }"}, headers=token, timeout=5)
    api = _scrape(stack, "api")
    assert _value(api, "kuzet_api_requests_total", operation="query.__typename") == 1, (
        answer.text, api["kuzet_api_requests"].samples, api["kuzet_api_errors"].samples)

    assert stack.stop() == dict.fromkeys(PROCESSES, 0)  # SIGTERM: each exits cleanly
    logged = {}
    for name in ("worker", "api"):  # (the API's one stdout banner is not a log line)
        lines = [line for line in (stack.logs / f"{name}.log").read_text().splitlines()
                 if line and not line.startswith("Kuzet API on ")]
        assert lines, f"the {name} logged nothing at INFO"
        logged[name] = [json.loads(line) for line in lines]  # every line, libraries' too
        assert all({"timestamp", "level", "logger", "event"} <= set(e) for e in logged[name])
    assert any(e["logger"].startswith("uvicorn") for e in logged["api"]), logged["api"]
