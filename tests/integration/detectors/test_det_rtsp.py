"""A dead RTSP URL yields `source_offline` health records and retries; it never hangs."""

from __future__ import annotations

import threading
from pathlib import Path

from detectors.config import build_config
from detectors.frames import Frame
from detectors.sources import SourceRunner
from domain.health import HealthRecord, HealthStatus
from kuzet.broker import free_port


def test_dead_rtsp_url_reports_offline_and_keeps_retrying(tmp_path: Path) -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/stream1"  # nothing listens there
    data = {"detector": {"open_timeout_s": 0.5, "read_timeout_s": 0.5, "reconnect_max_s": 0.2},
            "cameras": [{"id": "cam-dead", "url": url, "site_id": "site-9"}]}
    config = build_config(data, data_dir=tmp_path, base_dir=tmp_path)
    frames: list[Frame] = []
    health: list[HealthRecord] = []
    got_two = threading.Event()

    def report(record: HealthRecord) -> None:
        health.append(record)
        if len(health) >= 2:
            got_two.set()

    stop = threading.Event()
    runner = SourceRunner(config.cameras[0], config, lambda f, _: frames.append(f), report, stop)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    assert got_two.wait(30), "no health records from a dead stream"
    stop.set()
    thread.join(10)
    assert not thread.is_alive(), "the source thread hung"
    assert frames == []
    assert {h.status for h in health} == {HealthStatus.SOURCE_OFFLINE}
    assert health[0].source_id == "cam-dead"
    assert health[0].site_id == "site-9"
    assert health[0].reason == "cannot open stream"
