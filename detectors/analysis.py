"""Frames in, validated detections out: runs each camera's enabled detectors on a batch.

YOLO-format models run once per batch of frames gathered across cameras (batching per model),
and so does the plate recogniser (every plate crop of the batch in one run); plate
localisation, faces, fire and dumps run per frame. Models are loaded only when some camera enables
them, and warmed up at start. Evidence: with `snapshots = true` a record carries the frame as
JPEG; `face_match` always carries the aligned face crop and `plate_match` the plate crop (face
crops of non-matches are never kept); `canteen_count` never carries an image.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from detectors.config import DetectConfig, ModelConfig
from detectors.dumps import StaticObjects
from detectors.errors import ConfigError
from detectors.evidence import EvidenceStore
from detectors.faces import FaceEngine
from detectors.fire import FireHeuristic
from detectors.frames import Frame
from detectors.generic import generic_detections
from detectors.objects import COCO_KEPT, canteen_detections, object_detections
from detectors.plates import PlateRead, PlateReader
from detectors.records import make_detection, normalise_box, with_snapshot
from detectors.runner import OnnxModel
from detectors.watchlist import Watchlist
from detectors.yolo import Box, decode, letterbox_batch
from domain.detection import Detection
from domain.kinds import Kind

__all__ = ["Analyser", "YoloModel"]

Adapter = Callable[[Frame, Sequence[Box], ModelConfig], list[Detection]]


@dataclass
class YoloModel:
    """A YOLO-format ONNX model with its config: batched inference plus decoding."""

    config: ModelConfig
    model: OnnxModel
    keep: tuple[int, ...] | None = None

    @classmethod
    def load(cls, config: ModelConfig, settings: DetectConfig,
             keep: tuple[int, ...] | None = None) -> YoloModel:
        model = OnnxModel(config.path, name=config.name, prefer_gpu=settings.prefer_gpu,
                          intra_threads=settings.intra_threads)
        size = model.input.shape[2]
        config_size = size if isinstance(size, int) else config.input_size
        yolo = cls(dataclasses.replace(config, input_size=config_size), model, keep)
        yolo.model.warm_up((1, 3, config_size, config_size))
        return yolo

    def boxes(self, images: Sequence[np.ndarray], batch_size: int) -> list[list[Box]]:
        out: list[list[Box]] = []
        mapped = max(self.config.classes, default=None)
        for i in range(0, len(images), batch_size):
            batch, letterboxes = letterbox_batch(images[i:i + batch_size], self.config.input_size)
            raw = self.model.run(batch)
            out += decode(raw, letterboxes, score_threshold=self.config.score_threshold,
                          iou_threshold=self.config.iou_threshold, keep=self.keep,
                          max_class=None if mapped is None else mapped + 1)
        return out


class Analyser:
    """Holds the loaded models and per-camera state; `analyse(frames)` -> detections."""

    def __init__(self, config: DetectConfig, evidence: EvidenceStore | None = None) -> None:
        self.config, self.evidence = config, evidence
        enabled = {d for cam in config.cameras for d in cam.detectors}
        self.objects = self._yolo("objects", COCO_KEPT) if (
            enabled & {"objects", "canteen"}) else None
        generic = {d.removeprefix("model:") for d in enabled if d.startswith("model:")}
        self.generic = {name: self._yolo(name) for name in generic}
        self.faces = self._faces() if "faces" in enabled else None
        self.watchlist = Watchlist(config.watchlist_path) if "faces" in enabled else None
        self.plates = None
        if "plates" in enabled:
            self.plates = PlateReader(self._model("ocr"), prefer_gpu=config.prefer_gpu,
                                      intra_threads=config.intra_threads,
                                      min_plate_width=config.plate_min_width)
        self.fire, self.dumps = FireHeuristic(), StaticObjects()

    def _model(self, name: str) -> ModelConfig:
        if name not in self.config.models:
            raise ConfigError(f"models.{name}.path: required (no shipped default is installed)")
        return self.config.models[name]

    def _yolo(self, name: str, keep: tuple[int, ...] | None = None) -> YoloModel:
        return YoloModel.load(self._model(name), self.config, keep)

    def _faces(self) -> FaceEngine:
        c = self.config
        return FaceEngine(self._model("faces_detector"), self._model("faces_embedder"),
                          runtime=c.face_runtime, cache_dir=c.model_cache_dir,
                          prefer_gpu=c.prefer_gpu, intra_threads=c.intra_threads)

    def analyse(self, frames: Sequence[Frame]) -> list[Detection]:
        """Every detection for `frames`, snapshots attached where configured."""
        out: list[Detection] = []
        out += self._batched(frames)
        plates = self._read_plates(frames)
        for frame, reads in zip(frames, plates, strict=True):
            out += self._per_frame(frame, reads)
        return out

    def _read_plates(self, frames: Sequence[Frame]) -> list[list[PlateRead]]:
        """Plate reads per frame: one recogniser run for the batch's plate cameras."""
        chosen = [i for i, f in enumerate(frames) if "plates" in f.camera.detectors]
        reads: list[list[PlateRead]] = [[] for _ in frames]
        if self.plates is not None and chosen:
            found = self.plates.read_batch([frames[i].image for i in chosen])
            for i, frame_reads in zip(chosen, found, strict=True):
                reads[i] = frame_reads
        return reads

    def _batched(self, frames: Sequence[Frame]) -> list[Detection]:
        out: list[Detection] = []
        jobs: list[tuple[YoloModel, set[str], list[Adapter]]] = []
        if self.objects is not None:
            jobs.append((self.objects, {"objects", "canteen"}, []))
        jobs += [(m, {f"model:{n}"}, [generic_detections]) for n, m in self.generic.items()]
        for yolo, names, adapters in jobs:
            chosen = [f for f in frames if names & set(f.camera.detectors)]
            if not chosen:
                continue
            per_frame = yolo.boxes([f.image for f in chosen], self.config.batch_size)
            for frame, boxes in zip(chosen, per_frame, strict=True):
                for adapter in adapters or self._object_adapters(frame):
                    out += self._snap(frame, adapter(frame, boxes, yolo.config))
        return out

    @staticmethod
    def _object_adapters(frame: Frame) -> list[Adapter]:
        names = frame.camera.detectors
        adapters: list[Adapter] = []
        if "objects" in names:
            adapters.append(object_detections)
        if "canteen" in names:
            adapters.append(canteen_detections)
        return adapters

    def _per_frame(self, frame: Frame, plates: list[PlateRead]) -> list[Detection]:
        names = frame.camera.detectors
        out: list[Detection] = []
        if "faces" in names:
            out += self._face_matches(frame)
        if "plates" in names:
            out += self._plates(frame, plates)
        if "fire" in names:
            out += self._snap(frame, self.fire.update(frame))
        if "dumps" in names:
            out += self._snap(frame, self.dumps.update(frame))
        return out

    def _snap(self, frame: Frame, detections: list[Detection]) -> list[Detection]:
        if not detections or self.evidence is None or not frame.camera.snapshots:
            return detections
        snapshot = self.evidence.put(frame.image)
        return [d if d.kind is Kind.CANTEEN_COUNT else with_snapshot(d, snapshot)
                for d in detections]

    def _crop(self, detection: Detection, crop: np.ndarray) -> Detection:
        return detection if self.evidence is None else with_snapshot(
            detection, self.evidence.put(crop))

    def _face_matches(self, frame: Frame) -> list[Detection]:
        if self.faces is None or self.watchlist is None:
            return []
        width, height = frame.size
        out = []
        for face in self.faces.detect(frame.image):
            match = self.watchlist.match(self.faces.embed(frame.image, face),
                                         self.config.face_threshold)
            if match is None:
                continue  # not on the watch-list: nothing published, nothing kept
            detection = make_detection(
                frame, Kind.FACE_MATCH, match.similarity, model=self.faces.embedder,
                bbox=normalise_box(face.x, face.y, face.w, face.h, width, height),
                attributes={"subject_id": match.subject_id,
                            "similarity": round(min(max(match.similarity, 0.0), 1.0), 4)},
            )
            out.append(self._crop(detection, self.faces.aligned_crop(frame.image, face)))
        return out

    def _plates(self, frame: Frame, reads: list[PlateRead]) -> list[Detection]:
        if self.plates is None:
            return []
        width, height = frame.size
        out = []
        for read in reads:
            x, y, w, h = read.box
            bbox = normalise_box(x, y, w, h, width, height)
            attrs = {"plate": read.plate}
            if read.plate in self.config.wanted_plates:
                match = make_detection(frame, Kind.PLATE_MATCH, read.confidence,
                                       model=self.plates.model_config, bbox=bbox,
                                       attributes={**attrs, "wanted": True})
                out.append(self._crop(match, frame.image[y:y + h, x:x + w]))
            if self.config.publish_all_plates:
                out += self._snap(frame, [make_detection(
                    frame, Kind.VEHICLE, read.confidence, model=self.plates.model_config,
                    bbox=bbox, attributes=attrs)])
        return out
