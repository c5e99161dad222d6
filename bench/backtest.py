"""Backtest speed: `python bench/backtest.py [N]`.

N detections of a synthetic day (the reference city's ~500,000 analytics events: vehicles,
persons, plates, fire/smoke at sites, crowds), in observed order, replayed through the pure
correlator under the shipped rules and under a candidate (fire min_hits 5), then diffed
(`domain.backtest`): what `kuzet rules backtest` does after reading the archive. Reading from
the archive is measured by `bench/search.py`'s scan figure, not here.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from types import MappingProxyType

from domain.backtest import compare, replay
from domain.detection import Detection, DetectionId, Location
from domain.kinds import Kind, SourceKind
from domain.rules import load_rules
from kuzet.bench_conditions import Conditions, median

T0 = datetime(2026, 12, 1, tzinfo=UTC)
KINDS = [(Kind.VEHICLE, 40), (Kind.PERSON, 40), (Kind.PLATE_MATCH, 5), (Kind.FIRE, 3),
         (Kind.SMOKE, 3), (Kind.CROWD, 5), (Kind.ROAD_DEFECT, 4)]


def _day(n: int) -> list[Detection]:
    rng = random.Random(7)
    kinds = [k for k, w in KINDS for _ in range(w)]
    out = []
    for i in range(n):
        kind = rng.choice(kinds)
        attrs = {"plate": f"A{rng.randrange(2000):04d}KZ"} if kind is Kind.PLATE_MATCH else {}
        out.append(Detection(
            DetectionId(str(uuid.UUID(int=i + 1))), f"cam-{rng.randrange(5000)}",
            SourceKind.CAMERA, kind, 0.6 + rng.random() * 0.4,
            T0 + timedelta(seconds=86_400 * i / n), f"site-{rng.randrange(800)}",
            Location(43.2 + rng.random() / 10, 76.9 + rng.random() / 10), None,
            MappingProxyType(attrs)))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    shipped = resources.files("domain").joinpath("rules.toml").read_text()
    active = load_rules(shipped)
    candidate = load_rules(shipped.replace("version = 1\n", "version = 2\n", 1).replace(
        'min_hits = 3\nwindow_s = 30\nseverity = "critical"',
        'min_hits = 5\nwindow_s = 30\nseverity = "critical"', 1))
    with Conditions("rules backtest (pure replay + diff)", detections=n) as c:
        detections = _day(n)
        runs = []
        for _ in range(3):
            began = time.perf_counter()
            diff = compare(replay(detections, active), replay(detections, candidate))
            runs.append(time.perf_counter() - began)
        c.figure("replay under both rule sets and diff", median(runs), "s", runs)
        c.figure("detections per second (two replays)", n / median(runs), "det/s")
        fire = diff.of("fire")
        c.figure("fire incidents under the active rules", fire.active, "")
        c.figure("  under the candidate", fire.candidate, "")
        c.figure("  lost by the candidate", len(fire.lost), "")


if __name__ == "__main__":
    main()
