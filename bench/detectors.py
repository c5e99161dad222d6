"""Detector benchmark: full-pipeline frames/s beside the bare model rate, per model and batch.

Run: `python bench/detectors.py [--frames 48] [--runs 3] [--models objects,faces,faces-ort,plates]`
(starts and stops its own embedded broker). Conditions are printed first; each figure is the
median of `--runs` runs, with the pipeline/bare ratio.

For each model and batch size (1, 8) it prints
  * bare:     inference only, on the same frames already preprocessed in memory
              (onnxruntime for YOLO11n and PP-OCR rec; YuNet+SFace both on OpenCV DNN, which
              runs the shipped int8 files as they are, and on onnxruntime after
              `detectors.fold` has folded them to float32); for plates two bare rates:
              the PP-OCR recogniser alone on crops cut and resized beforehand (`rec`),
              and the whole plate model — Haar cascade localisation, then one
              recogniser run per batch (`cascade+rec`): the pipeline runs both, as
              the faces pipeline runs YuNet and SFace, so its ratio is taken against
              `cascade+rec` and the `rec` ratio is printed beside it. `rec` runs
              crops stretched to 288 x 48 (as the issue's figure did); the reader
              keeps the aspect, 144 x 48 for this scene's 3:1 boxes, which the
              recogniser runs about 1.5x faster, so `cascade+rec` can beat `rec`;
  * pipeline: the whole detector path: decode an MJPG video with OpenCV -> sample -> batch ->
              model -> adapter -> validated Detection -> aiokafka publish to the embedded
              broker, acknowledged (the publisher is flushed before the clock stops).
The pipeline publishes one record per frame (throttle off) so publishing is exercised.

Figures (2 shared cores, medians of 3): docs/detectors.md, "Benchmark".
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors.analysis import Analyser, YoloModel
from detectors.config import DetectConfig, build_config
from detectors.faces import FaceEngine
from detectors.pipeline import Pipeline
from detectors.plates import PlateReader
from detectors.publisher import KafkaPublisher, PublisherOptions
from detectors.yolo import letterbox_batch
from kuzet.bench_conditions import Conditions, median
from kuzet.broker import EmbeddedBroker, free_port
from tests.fixtures.detector_fixtures import plate_scene, shipped_testimg, write_video


def decoded(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            return frames
        frames.append(image)


def rate(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def bare_yolo(yolo: YoloModel, frames: list[np.ndarray], batch: int) -> float:
    batches = [letterbox_batch(frames[i:i + batch], yolo.config.input_size)[0]
               for i in range(0, len(frames), batch)]
    return rate(len(frames), lambda: [yolo.model.run(b) for b in batches])


def bare_ocr(reader: PlateReader, frames: list[np.ndarray], batch: int) -> float:
    crops = []
    for f in frames:
        x, y, w, h = reader.localise(f)[0]
        crops.append(cv2.resize(f[y:y + h, x:x + w], (288, 48)))
    x = ((np.stack(crops).astype(np.float32) / 255 - 0.5) / 0.5).transpose(0, 3, 1, 2)
    batches = [x[i:i + batch] for i in range(0, len(x), batch)]
    return rate(len(frames), lambda: [reader.model.run(b) for b in batches])


def bare_plates(reader: PlateReader, frames: list[np.ndarray], batch: int) -> float:
    """Localise (cascade) and read every plate, one recogniser run per batch of frames."""
    batches = [frames[i:i + batch] for i in range(0, len(frames), batch)]
    return rate(len(frames), lambda: [reader.read_batch(b) for b in batches])


def bare_faces(engine: FaceEngine, frames: list[np.ndarray], batch: int) -> float:
    def work() -> None:
        for f in frames:  # OpenCV DNN runs one image at a time; batch has no effect
            for face in engine.detect(f):
                engine.embed(f, face)
    return rate(len(frames), work)


def pipeline_rate(config: DetectConfig, analyser: Analyser, video: Path, detector: str,
                  batch: int, bootstrap: str, n: int) -> tuple[float, int]:
    cam = {"id": f"bench-{detector}-{batch}", "url": str(video), "detectors": [detector],
           "sample_fps": 1000.0, "min_interval_s": 0.0, "started_at": "2025-05-05T10:00:00Z"}
    run_cfg = build_config({"cameras": [cam], "detector": {"batch_size": batch,
                                                           "frame_queue_size": 64}},
                           data_dir=config.data_dir, base_dir=config.data_dir)
    run_cfg = dataclasses.replace(run_cfg, wanted_plates=frozenset({"A123BC77"}))
    analyser.config = run_cfg
    publisher = KafkaPublisher(bootstrap, PublisherOptions(detections_topic="kuzet.bench.v1",
                                                           health_topic="kuzet.bench.health.v1"))
    publisher.start()
    start = time.perf_counter()
    stats = Pipeline(run_cfg, publisher, analyser).run()
    publisher.close(timeout=60)
    elapsed = time.perf_counter() - start
    assert stats.frames == n, (stats.frames, n)
    return n / elapsed, publisher.sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default="objects,faces,faces-ort,plates",
                        help="comma-separated: objects, faces, faces-ort, plates")
    args = parser.parse_args()
    n, chosen = args.frames, args.models.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="kuzet-bench-"))
    config = build_config({"cameras": [
        {"id": "warm", "url": str(tmp), "detectors": ["objects", "faces", "plates"]}]},
        data_dir=tmp, base_dir=tmp)
    analyser = Analyser(config)
    assert analyser.objects
    assert analyser.faces
    assert analyser.plates
    assert analyser.watchlist
    img = shipped_testimg()  # enrol one of its faces so the face pipeline publishes matches
    analyser.watchlist.enrol("bench-subject", analyser.faces.embed(img, analyser.faces.detect(
        img)[0]), model="sface")
    faces_only = (dataclasses.replace(config.cameras[0], detectors=("faces",)),)
    ort_faces = Analyser(dataclasses.replace(config, cameras=faces_only,  # same watch-list
                                             face_runtime="onnxruntime"))
    assert ort_faces.faces
    scenes = {  # name: (label, base image, detector, analyser)
        "objects": ("yolo11n (onnxruntime)", shipped_testimg(), "objects", analyser),
        "faces": ("yunet+sface (OpenCV DNN)", shipped_testimg(), "faces", analyser),
        "faces-ort": ("yunet+sface (onnxruntime)", shipped_testimg(), "faces", ort_faces),
        "plates": ("pp-ocrv6 rec (onnxruntime)", cv2.resize(plate_scene(), (640, 384)), "plates",
                   analyser),
    }
    bare = {"objects": lambda f, b: bare_yolo(analyser.objects, f, b),  # type: ignore[arg-type]
            "faces": lambda f, b: bare_faces(analyser.faces, f, b),  # type: ignore[arg-type]
            "faces-ort": lambda f, b: bare_faces(ort_faces.faces, f, b),  # type: ignore[arg-type]
            "plates": lambda f, b: bare_plates(analyser.plates, f, b)}  # type: ignore[arg-type]
    conditions = Conditions("detectors", frames=n, runs=args.runs, models=args.models,
                            provider=analyser.objects.model.provider, batches="1,8")
    with conditions as c, EmbeddedBroker(free_port()) as broker:
        print(f"{'model':28} {'batch':>5} {'bare fps':>10} {'pipeline fps':>13} {'ratio':>6} "
              f"{'records':>8}", flush=True)
        for name in chosen:
            label, base, detector, runner = scenes[name]
            video = write_video(tmp / f"{name}.avi", frames=n, fps=25.0, scale=1.0,
                                base=base, shift=1)
            frames = decoded(video)
            for batch in (1, 8):
                bares, fpss, rec = [], [], []
                for _ in range(args.runs):
                    if name == "plates":
                        rec.append(bare_ocr(analyser.plates, frames, batch))  # type: ignore[arg-type]
                    bares.append(bare[name](frames, batch))
                    fps, sent = pipeline_rate(config, runner, video, detector, batch,
                                              broker.bootstrap_servers, n)
                    fpss.append(fps)
                b, f = median(bares), median(fpss)
                what = f"{label} ({'cascade+rec' if name == 'plates' else 'bare'})"
                print(f"{label:28} {batch:>5} {b:>10.1f} {f:>13.1f} {f / b:>6.2f} {sent:>8}"
                      + (f"   rec alone {median(rec):.1f} fps: ratio {f / median(rec):.2f}"
                         if rec else ""), flush=True)
                c.figure(f"{what} batch {batch} bare", b, "fps", runs=bares)
                c.figure(f"{label} batch {batch} pipeline", f, "fps", runs=fpss)
                if rec:
                    c.figure(f"{label} (rec alone) batch {batch} bare", median(rec), "fps",
                             runs=rec)


if __name__ == "__main__":
    main()
