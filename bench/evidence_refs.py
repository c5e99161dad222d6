"""What evidence references cost on the write path: `python bench/evidence_refs.py [N] [IMAGES]`.

N fire incidents, each opened by 3 detections and then given 4 evidence flushes of IMAGES
detections, on the production store (SQLite, hash chain, sealing on). Three workloads: no
images; every detection with its own image (`{ref, sha256}` on every event, each ref sealed:
no cap since v2); every detection with the same image (coalesced to one ref per incident).
Figures: detections made durable as evidence per second, medians of 3 runs, beside the
conditions (`kuzet.bench_conditions`).
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from domain.application import IncidentApp
from domain.correlation import OpenIncident
from domain.detection import Detection
from domain.incident import incident_id_for
from domain.kinds import Kind
from kuzet.bench_conditions import Conditions, median
from kuzet.settings import CHAINED_SQLITE
from tests.helpers import default_rules, det

RULES = default_rules()
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _dets(i: int, flush: int, count: int, images: str) -> list[Detection]:
    out = []
    for k in range(count):
        extra: dict[str, Any] = {}
        if images != "none":
            n = 0 if images == "same" else flush * 1000 + k
            extra["snapshot"] = {"uri": f"file:///ev/{i}/{n}.jpg", "sha256": f"{i:032x}{n:032x}"}
        out.append(det("fire", source=f"cam-{i}", site=f"site-{i}", seconds=flush + k / 1000,
                       **extra))
    return out


def _run(folder: Path, n: int, count: int, images: str) -> float:
    env = {"PERSISTENCE_MODULE": CHAINED_SQLITE, "PRIVACY_PEPPER": "bench-pepper-0123456789",
           "SQLITE_DBNAME": str(folder / f"{uuid.uuid4()}.db")}
    app = IncidentApp(env, RULES)
    try:
        durable, began = 0, time.perf_counter()
        for i in range(n):
            key = f"fire:site=site-{i}"
            opening = tuple(_dets(i, 0, 3, images))
            app.apply(OpenIncident(key, Kind.FIRE, 0, incident_id_for(key, 0), opening, None,
                                   T0), T0)
            for flush in range(1, 5):
                app.add_evidence(incident_id_for(key, 0), _dets(i, flush, count, images),
                                 T0 + timedelta(seconds=flush))
            durable += 3 + 4 * count
        return durable / (time.perf_counter() - began)
    finally:
        app.close()


def main(n: int, count: int) -> None:
    with (tempfile.TemporaryDirectory() as tmp,
          Conditions("evidence_refs", n=n, images_per_flush=count, runs=3,
                     store="sqlite chained+sealed") as c):
        for images in ("none", "distinct", "same"):
            rates = [_run(Path(tmp), n, count, images) for _ in range(3)]
            c.figure(f"evidence, images {images}", median(rates), "det/s", runs=rates)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200,
         int(sys.argv[2]) if len(sys.argv) > 2 else 20)
