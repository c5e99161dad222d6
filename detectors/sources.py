"""Frame sources: video files, RTSP/HTTP streams, image folders and dash-cam recordings.

One `SourceRunner` per camera runs in its own thread, samples frames at the camera's
`sample_fps` and hands them to `offer(frame, block)`. Files are read to the end (blocking when
inference is behind, so nothing is skipped); live streams never block (the consumer drops and
counts) and reconnect with exponential backoff. A stream that cannot be opened, or stops
delivering within the read timeout, yields a `source_offline` health record per failed attempt
instead of hanging; `source_online` follows when it is back.

Timestamps: files use the container's position (`CAP_PROP_POS_MSEC`) from the camera's
`started_at`, else the GPS track's first fix (dash-cams), else the file's modification time
minus its duration. Live streams use the wall clock at the first frame plus the stream's own
position where it advances, else the wall clock. Dash-cam frames get a location from the GPS
sidecar (`detectors.gps`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from detectors.config import CameraConfig, DetectConfig
from detectors.errors import SourceError
from detectors.frames import Frame
from detectors.gps import GpsTrack, load_track
from detectors.health import health_record
from detectors.metrics import FRAMES_READ, SOURCE_OFFLINE
from domain.health import HealthRecord, HealthStatus

__all__ = ["IMAGE_SUFFIXES", "SourceRunner", "is_live"]

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
_LIVE_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")

Offer = Callable[[Frame, bool], None]
Report = Callable[[HealthRecord], None]


def is_live(url: str) -> bool:
    return url.lower().startswith(_LIVE_SCHEMES)


def _file_path(url: str) -> Path:
    return Path(url[len("file://"):] if url.startswith("file://") else url)


class SourceRunner:
    """Reads one camera until its file ends or `stop` is set."""

    def __init__(self, cam: CameraConfig, config: DetectConfig, offer: Offer, report: Report,
                 stop: threading.Event) -> None:
        self.cam, self.config, self.offer, self.report, self.stop = cam, config, offer, report, stop
        self.track: GpsTrack | None = load_track(cam.gps) if cam.gps else None
        self.index = 0
        if not is_live(cam.url) and not _file_path(cam.url).exists():
            raise SourceError(f"camera {cam.id}: no file or folder at {cam.url}")

    def run(self) -> None:
        """The thread body."""
        path = _file_path(self.cam.url)
        try:
            if is_live(self.cam.url):
                self._live()
            elif path.is_dir():
                self._folder(path)
            else:
                self._file(path)
        except Exception:  # a source thread must report, never die silently
            log.exception("camera %s: source failed", self.cam.id)
            self._health(HealthStatus.SOURCE_OFFLINE, "source thread failed (see logs)")

    def _emit(self, image: np.ndarray, when: datetime, *, block: bool) -> None:
        location = self.track.at(when) if self.track else None
        FRAMES_READ.labels(source=self.cam.id).inc()
        self.offer(Frame(self.cam, image, when, self.index, location), block)
        self.index += 1

    def _health(self, status: HealthStatus, reason: str | None = None) -> None:
        if status is HealthStatus.SOURCE_OFFLINE:
            SOURCE_OFFLINE.labels(source=self.cam.id).inc()
        self.report(health_record(self.cam, status, node=self.config.node, reason=reason))

    def _folder(self, folder: Path) -> None:
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        step = timedelta(seconds=1 / self.cam.sample_fps)
        for i, path in enumerate(paths):
            if self.stop.is_set():
                return
            image = cv2.imread(str(path))
            if image is None:
                log.warning("camera %s: cannot read image %s", self.cam.id, path)
                continue
            start = self.cam.started_at
            when = start + i * step if start else datetime.fromtimestamp(path.stat().st_mtime, UTC)
            self._emit(image, when, block=True)

    def _file_start(self, path: Path, cap: cv2.VideoCapture) -> datetime:
        if self.cam.started_at is not None:
            return self.cam.started_at
        if self.track is not None:
            return datetime.fromtimestamp(self.track.start, UTC)
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        duration = cap.get(cv2.CAP_PROP_FRAME_COUNT) / fps
        return datetime.fromtimestamp(path.stat().st_mtime - duration, UTC)

    def _file(self, path: Path) -> None:
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            self._health(HealthStatus.SOURCE_OFFLINE, f"cannot open video file {path.name}")
            return
        try:
            start = self._file_start(path, cap)
            for image, pos_ms in self._sampled(cap):
                self._emit(image, start + timedelta(milliseconds=pos_ms), block=True)
        finally:
            cap.release()

    def _sampled(self, cap: cv2.VideoCapture) -> Iterator[tuple[np.ndarray, float]]:
        """Grab every frame, decode only those due at the sampling rate."""
        period_ms, due = 1000.0 / self.cam.sample_fps, 0.0
        while not self.stop.is_set() and cap.grab():
            pos = float(cap.get(cv2.CAP_PROP_POS_MSEC))
            if pos + 1e-3 < due:
                continue
            ok, image = cap.retrieve()
            if ok:
                due = max(due + period_ms, pos + period_ms / 2)
                yield image, pos

    def _open_live(self) -> cv2.VideoCapture | None:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.config.open_timeout_s * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.config.read_timeout_s * 1000)]
        cap = cv2.VideoCapture(self.cam.url, cv2.CAP_FFMPEG, params)
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def _live(self) -> None:
        delay, was_online = 0.5, True
        while not self.stop.is_set():
            cap = self._open_live()
            if cap is None:
                self._health(HealthStatus.SOURCE_OFFLINE, "cannot open stream")
                was_online = False
            else:
                if not was_online:
                    self._health(HealthStatus.SOURCE_ONLINE)
                delay, was_online = 0.5, True
                self._read_live(cap)
                if self.stop.is_set():
                    return
                self._health(HealthStatus.SOURCE_OFFLINE, "stream stalled or ended")
                was_online = False
            self.stop.wait(delay)
            delay = min(delay * 2, self.config.reconnect_max_s)

    def _read_live(self, cap: cv2.VideoCapture) -> None:
        base: datetime | None = None
        try:
            for image, pos_ms in self._sampled(cap):
                now = datetime.now(UTC)
                base = base or now - timedelta(milliseconds=pos_ms)
                stamped = base + timedelta(milliseconds=pos_ms)
                # Trust the stream clock only while it stays near the wall clock.
                near = abs((stamped - now).total_seconds()) < 5
                self._emit(image, stamped if pos_ms > 0 and near else now, block=False)
        finally:
            cap.release()
