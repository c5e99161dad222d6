"""Detector test fixtures: the real shipped models, shared with the other detector tests."""

from __future__ import annotations

from tests.fixtures.detector_models import base_config, faces, faces_onnx, plates, yolo

__all__ = ["base_config", "faces", "faces_onnx", "plates", "yolo"]
