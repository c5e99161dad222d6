"""Errors raised by the detectors package.

    DetectorError
    ├── ConfigError          a cameras-file key or detector setting is missing or bad
    ├── ModelError
    │   ├── ModelLoadError   a model file is missing or onnxruntime/OpenCV cannot load it
    │   └── ModelOutputError a model's output does not have the shape its adapter expects
    ├── SourceError          a frame source cannot be opened at all (bad path, unknown scheme)
    ├── GpsError             a GPS sidecar (GPX or JSON lines) is unreadable or malformed
    ├── WatchlistError       enrolment found no face, or the watch-list store is unusable
    ├── EvidenceError        a snapshot cannot be encoded or written
    ├── SensorInputError     a sensor signal fails validation (every problem listed)
    ├── AppealInputError     a citizen's appeal fails validation (every problem listed)
    └── PublisherError       the publisher was used after close, or could not flush in time
"""

from __future__ import annotations

__all__ = [
    "AppealInputError",
    "ConfigError",
    "DetectorError",
    "EvidenceError",
    "GpsError",
    "ModelError",
    "ModelLoadError",
    "ModelOutputError",
    "PublisherError",
    "SensorInputError",
    "SourceError",
    "WatchlistError",
]


class DetectorError(Exception):
    """Base of every error the detectors package raises on purpose."""


class ConfigError(DetectorError):
    """Raised when the cameras file or a detector setting is missing or has a bad value."""


class ModelError(DetectorError):
    """Base of errors about one model; the message names the model path or name."""


class ModelLoadError(ModelError):
    """Raised when a model file is missing or its runtime refuses to load it."""


class ModelOutputError(ModelError):
    """Raised by an adapter when a model's raw output does not have the expected shape."""


class SourceError(DetectorError):
    """Raised when a frame source cannot be opened at all (not for a stream that drops:
    those produce `source_offline` health records and are retried)."""


class GpsError(DetectorError):
    """Raised when a GPS sidecar cannot be read or has no usable fixes."""


class WatchlistError(DetectorError):
    """Raised when enrolment finds no face in a photo or the watch-list store is unusable."""


class EvidenceError(DetectorError):
    """Raised when a snapshot cannot be encoded as JPEG or written to the evidence store."""


class SensorInputError(DetectorError):
    """Raised when a sensor signal fails validation; `problems` lists every bad field."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        self.problems = problems
        super().__init__("invalid sensor signal: " + "; ".join(problems))


class AppealInputError(DetectorError):
    """Raised when a citizen's appeal fails validation; `problems` lists every bad field."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        self.problems = problems
        super().__init__("invalid appeal: " + "; ".join(problems))


class PublisherError(DetectorError):
    """Raised when the publisher is used after `close()` or cannot flush within its timeout."""
