"""`kuzet demo`: the local stack, the built-in scenario, and a summary of what came out."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from domain.topics import DETECTIONS, DETECTIONS_DLQ
from kuzet.commands.core import incident_rows, incidents_table, publish_records
from kuzet.kafka import read_topic
from kuzet.scenario import EXPECTED, EXPECTED_DLQ, demo_records
from kuzet.settings import Settings
from kuzet.stack import LocalStack

__all__ = ["count_topic", "run_demo", "wait_for"]


async def count_topic(bootstrap: str, topic: str) -> int:
    """How many records a topic holds."""
    return len(await read_topic(bootstrap, topic))


def _matches(rows: list[dict[str, Any]]) -> dict[str, bool]:
    by_key = {r["key"]: r for r in rows}
    return {
        key: key in by_key and by_key[key]["status"] == want["status"]
        and len(by_key[key]["sources"]) == want["sources"]
        for key, want in EXPECTED.items()
    }


def wait_for(settings: Settings, bootstrap: str, timeout: float,
             console: Console) -> tuple[list[dict[str, Any]], int]:
    """Poll the store and the DLQ until the scenario's outcome is complete (or time is up)."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    dlq = 0
    with console.status("correlating…") as status:
        while time.monotonic() < deadline:
            rows = incident_rows(settings)
            dlq = asyncio.run(count_topic(bootstrap, DETECTIONS_DLQ))
            done = sum(_matches(rows).values())
            status.update(f"correlating… {done}/{len(EXPECTED)} incidents as expected, "
                          f"{dlq} in the DLQ")
            if done == len(EXPECTED) and dlq >= EXPECTED_DLQ:
                time.sleep(2 * settings.tick_interval_s)  # let any extra decision land
                return incident_rows(settings), dlq
            time.sleep(1)
    return rows, dlq


def run_demo(settings: Settings, console: Console, *, follow: bool, timeout: float) -> bool:
    with LocalStack(settings) as stack:
        stack.start_processes(console, workers=1)
        records = demo_records(datetime.now(UTC))
        asyncio.run(publish_records(stack.bootstrap, records, DETECTIONS))
        console.print(f"published {len(records)} records (incl. a redelivered batch and "
                      f"{EXPECTED_DLQ} malformed) to {DETECTIONS} at {stack.bootstrap}")
        rows, dlq = wait_for(settings, stack.bootstrap, timeout, console)
        console.print(incidents_table(rows, title="Incidents after the demo scenario"))
        checks = _matches(rows)
        extra = len(rows) - len(EXPECTED)
        for key, ok in checks.items():
            console.print(f"  {'[green]✓' if ok else '[red]✗'}[/] {key}")
        console.print(f"DLQ ({DETECTIONS_DLQ}): {dlq} record(s); unexpected incidents: {extra}")
        ok = all(checks.values()) and extra == 0 and dlq == EXPECTED_DLQ
        console.print("[green]demo OK[/]" if ok else "[red]demo did not match expectations[/]")
        from kuzet.commands.projections import print_views

        print_views(settings, console)
        if follow:
            console.print(f"following; logs in {stack.logs}. Ctrl-C stops.")
            stack.watch(console)
        return ok
