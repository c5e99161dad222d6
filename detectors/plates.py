"""Plates: localise (OpenCV's Russian-plate Haar cascade) and read (PP-OCR recognition, ONNX).

The PP-OCR recognition model that `rapidocr` ships is run directly by onnxruntime (no rapidocr
code, nothing downloaded); its character table is read from the model's own metadata
(`character`). Output is decoded by greedy CTC and normalised by `detectors.plate_text`
(re-exported here as `normalise_plate`).

`read_batch` reads the plates of a whole frame batch in as few recogniser runs as their widths
allow: every crop is resized to the model's height and its width by aspect, rounded to a whole
output step (`_STEP` = 8 columns), and crops of equal width run together. Nothing is padded:
padding a crop on the right, even by one column, moves its mean confidence by up to 0.03 and
by 8 or more columns can change its text ("M001MM50" read "MO001MM50"), so a batch read would
differ from the same crop read alone; rounding stretches a crop by at most 4 columns (3 % at
the 144 columns of a 3:1 plate). One camera's plates in successive frames mostly share a width;
on CPU a run of 8 crops costs what 8 runs of one do (8.6 vs 8.4 ms a crop here), so splitting
a batch by width costs nothing there.

Localisation costs more than recognition when the cascade searches the whole frame from its
own 60 x 20 window up: three quarters of that work is the pyramid levels for boxes under twice
the window. `min_plate_width` (default 120 px of the frame) is the narrowest box worth a
search: the cascade runs on the grey frame scaled by 60 / `min_plate_width` and its boxes are
mapped back, so the recogniser still reads full-resolution crops. At 120 px that is a quarter
of the pixels (localisation ~3.5x cheaper); plates whose box is narrower (the plate itself
under ~95 px wide, characters under ~10 px high) are not looked for. 60 searches every size the
cascade can find, as before. Read recall on the fixtures at both settings is a test
(`tests/unit/detectors/test_det_plates.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detectors.config import ModelConfig
from detectors.errors import ModelLoadError, ModelOutputError
from detectors.plate_text import normalise_plate
from detectors.runner import OnnxModel

__all__ = ["PlateRead", "PlateReader", "normalise_plate"]

_HEIGHT = 48
_STEP = 8
"""Input columns per recogniser output step: crop widths are multiples of it."""
_MIN_WIDTH, _MAX_WIDTH = 16, 960
_WINDOW_WIDTH = 60
"""The cascade's window width: the narrowest box it finds in the image it searches."""


@dataclass(frozen=True, slots=True)
class PlateRead:
    """A read plate: normalised text, mean character confidence and its pixel box."""

    plate: str
    confidence: float
    box: tuple[int, int, int, int]


class PlateReader:
    """Finds plate-like regions and reads them; `read_crop` reads an already-cut plate."""

    def __init__(self, ocr: ModelConfig, *, prefer_gpu: bool = True, intra_threads: int = 0,
                 min_confidence: float = 0.8, min_plate_width: int = 120) -> None:
        self.model_config = ocr
        self.model = OnnxModel(ocr.path, name=ocr.name, prefer_gpu=prefer_gpu,
                               intra_threads=intra_threads)
        meta = self.model.session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ModelLoadError(f"OCR model {ocr.path}: no 'character' table in its metadata")
        self.charset = meta["character"].split("\n")
        cascade = cv2.data.haarcascades + "haarcascade_russian_plate_number.xml"  # type: ignore[attr-defined]
        self.cascade = cv2.CascadeClassifier(cascade)
        if self.cascade.empty():
            raise ModelLoadError(f"plate cascade {cascade}: OpenCV could not load it")
        self.min_confidence = min_confidence
        self.localise_scale = min(1.0, _WINDOW_WIDTH / max(min_plate_width, 1))

    def localise(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Candidate plate boxes (x, y, w, h) in pixels of `image`, searched on the grey frame
        scaled by `localise_scale` (see the module docstring)."""
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        height, width = grey.shape
        if self.localise_scale < 1.0:
            grey = cv2.resize(grey, None, fx=self.localise_scale, fy=self.localise_scale,
                              interpolation=cv2.INTER_AREA)
        found = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=3)
        sx, sy = width / grey.shape[1], height / grey.shape[0]
        boxes = []
        for x, y, w, h in found:
            x0, y0 = round(x * sx), round(y * sy)
            x1, y1 = min(round((x + w) * sx), width), min(round((y + h) * sy), height)
            boxes.append((x0, y0, x1 - x0, y1 - y0))
        return boxes

    def read_crop(self, crop: np.ndarray) -> tuple[str, float]:
        """(raw text, mean confidence) of one plate crop."""
        return self.read_crops([crop])[0]

    def read_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """(raw text, mean confidence) of each crop: one recogniser run per crop width."""
        inputs = [_normalised(c) for c in crops]
        groups: dict[int, list[int]] = {}
        for i, x in enumerate(inputs):
            groups.setdefault(x.shape[2], []).append(i)
        out: list[tuple[str, float]] = [("", 0.0)] * len(inputs)
        for group in groups.values():
            for i, read in zip(group, self._recognise(np.stack([inputs[i] for i in group])),
                               strict=True):
                out[i] = read
        return out

    def _recognise(self, batch: np.ndarray) -> list[tuple[str, float]]:
        out = self.model.run(batch)
        if out.ndim != 3 or out.shape[0] != len(batch) or out.shape[2] != len(self.charset) + 2:
            raise ModelOutputError(
                f"OCR model {self.model_config.name}: expected [{len(batch)}, T, "
                f"{len(self.charset) + 2}] (blank + table + space), got {list(out.shape)}"
            )
        return [self._ctc(probs) for probs in out]

    def _ctc(self, probs: np.ndarray) -> tuple[str, float]:
        idx, best = probs.argmax(1), probs.max(1)
        chars, confs, prev = [], [], -1
        table = [*self.charset, " "]
        for i, p in zip(idx.tolist(), best.tolist(), strict=True):
            if i not in (prev, 0):
                chars.append(table[i - 1])
                confs.append(p)
            prev = i
        return "".join(chars), float(np.mean(confs)) if confs else 0.0

    def read(self, image: np.ndarray) -> list[PlateRead]:
        """Every localised plate whose normalised text is 4..12 characters and confident."""
        return self.read_batch([image])[0]

    def read_batch(self, images: list[np.ndarray]) -> list[list[PlateRead]]:
        """`read` for each image, with one recogniser run for all their plates."""
        boxes = [self.localise(image) for image in images]
        crops = [image[y:y + h, x:x + w]
                 for image, found in zip(images, boxes, strict=True) for x, y, w, h in found]
        texts = iter(self.read_crops(crops) if crops else [])
        reads: list[list[PlateRead]] = []
        for found in boxes:
            reads.append([])
            for box in found:
                text, confidence = next(texts)
                plate = normalise_plate(text)
                if 4 <= len(plate) <= 12 and confidence >= self.min_confidence:
                    reads[-1].append(PlateRead(plate, confidence, box))
        return reads


def _normalised(crop: np.ndarray) -> np.ndarray:
    """A crop as the recogniser takes it: height 48, width by aspect rounded to a multiple of
    `_STEP`, CHW in [-1, 1]."""
    h, w = crop.shape[:2]
    width = min(max(round(_HEIGHT * w / max(h, 1) / _STEP) * _STEP, _MIN_WIDTH), _MAX_WIDTH)
    x = cv2.resize(crop, (width, _HEIGHT)).astype(np.float32) / 255.0
    return ((x - 0.5) / 0.5).transpose(2, 0, 1)
