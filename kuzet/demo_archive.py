"""The demo's detection-history part: one audited search and one rules backtest summary.

Waits (bounded) until `kuzet archive run` has archived the scenario's plate read, then searches
the plate fuzzily the way a police officer would type it (Cyrillic letters, one digit wrong),
and backtests a candidate that asks fire for two more hits than the active rules.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from kuzet.settings import Settings

__all__ = ["exercise_archive"]

QUERY = "\u0410 128 \u0412\u0421 02"
"""A 128 BC 02 typed with Cyrillic letters: the scenario's plate is A 123 BC 02."""


def exercise_archive(settings: Settings, console: Any, timeout_s: float = 30.0) -> bool:
    from archive.audited import Who
    from archive.search import SearchFilter
    from domain.rules import load_rules
    from kuzet.commands.rules import backtest_rules
    from kuzet.commands.search import run_search
    from kuzet.wiring import load_rule_set

    query = SearchFilter(plate=QUERY, fuzzy=True)
    deadline = time.monotonic() + timeout_s
    while True:
        page = run_search(settings, query, who=Who("demo-officer", "police", "police"),
                          first=5, after=None, via="demo")
        if page.hits or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for h in page.hits:
        console.print(f"search (plate {QUERY!r}, fuzzy): {h.plate} at {h.source_id} "
                      f"{h.observed_at:%H:%M:%S}, incident {h.incident_id or '-'}",
                      highlight=False)
    active = load_rule_set(settings)
    text = resources.files("domain").joinpath("rules.toml").read_text()
    candidate = load_rules(text.replace(f"version = {active.version}\n",
                                        f"version = {active.version + 1}\n", 1).replace(
        'min_hits = 3\nwindow_s = 30\nseverity = "critical"',
        'min_hits = 5\nwindow_s = 30\nseverity = "critical"', 1))
    now = datetime.now(UTC)
    diff, figures = backtest_rules(settings, active, candidate, now - timedelta(hours=1),
                                   now + timedelta(minutes=10))
    fire = diff.of("fire")
    console.print(f"backtest of {figures['detections']} archived detections: fire min_hits "
                  f"3 → 5 would open {fire.candidate} fire incident(s) instead of "
                  f"{fire.active} (lost {len(fire.lost)}, changed {len(fire.changed)})",
                  highlight=False)
    return bool(page.hits)
