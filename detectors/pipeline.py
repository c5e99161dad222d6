"""The detector process: sources -> bounded frame queue -> batched analysis -> sink.

One thread per camera reads frames (`detectors.sources`); the pipeline thread gathers up to
`batch_size` frames (waiting at most `batch_wait_s`) across cameras, analyses them, applies the
per-camera publication throttle, and hands records to the sink (the Kafka publisher, or a
printer for `--once`). Live frames that arrive while the queue is full are dropped and counted
(`kuzet_detector_frames_dropped_total`), so capture never blocks. Every `heartbeat_s` each
camera gets a health record; a last one is sent when the run ends. The run ends when every
source has finished (files, folders) or `stop` is set.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from detectors.analysis import Analyser
from detectors.config import DetectConfig
from detectors.frames import Frame
from detectors.health import HealthBook
from detectors.metrics import DETECTIONS_PUBLISHED, FRAMES_DROPPED
from detectors.sources import SourceRunner
from domain.detection import Detection
from domain.health import HealthRecord, HealthStatus

__all__ = ["Pipeline", "RecordSink", "RunStats", "Throttle"]


class RecordSink(Protocol):
    """Where records go: `KafkaPublisher`, or anything with these two methods."""

    def publish_detection(self, detection: Detection) -> None: ...

    def publish_health(self, record: HealthRecord) -> None: ...


@dataclass
class RunStats:
    frames: int = 0
    frames_dropped: int = 0
    detections: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0


class Throttle:
    """At most one record per (camera, kind, zone/subject/plate) per `min_interval_s` of
    observed time, so a person standing in view is one record a second, not one a frame."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, ...], datetime] = {}

    def allow(self, d: Detection, min_interval_s: float) -> bool:
        attrs = d.attributes
        detail = str(attrs.get("zone") or attrs.get("subject_id") or attrs.get("plate") or "")
        key = (d.source_id, d.kind.value, detail)
        last = self._last.get(key)
        if last is not None and 0 <= (d.observed_at - last).total_seconds() < min_interval_s:
            return False
        self._last[key] = d.observed_at
        return True


class Pipeline:
    """Runs every configured camera through the analyser into `sink`."""

    def __init__(self, config: DetectConfig, sink: RecordSink, analyser: Analyser) -> None:
        self.config, self.sink, self.analyser = config, sink, analyser
        self.frames: queue.Queue[Frame] = queue.Queue(maxsize=config.frame_queue_size)
        self.book = HealthBook(config.node)
        self.throttle = Throttle()
        self.stats = RunStats()
        self.stop = threading.Event()
        self._cameras = {c.id: c for c in config.cameras}

    def offer(self, frame: Frame, block: bool) -> None:
        """Called by source threads: block (files) or drop when full (live streams)."""
        while block and not self.stop.is_set():
            try:
                self.frames.put(frame, timeout=0.2)
            except queue.Full:
                continue
            return
        try:
            self.frames.put_nowait(frame)
        except queue.Full:
            self.stats.frames_dropped += 1
            FRAMES_DROPPED.labels(source=frame.camera.id).inc()

    def report(self, record: HealthRecord) -> None:
        """Called by source threads with offline/online records."""
        self.book.offline(record.source_id, record.status is HealthStatus.SOURCE_OFFLINE)
        self.sink.publish_health(record)

    def run(self, max_seconds: float | None = None) -> RunStats:
        """Read until every source ends, `stop` is set or `max_seconds` pass."""
        runners = [SourceRunner(cam, self.config, self.offer, self.report, self.stop)
                   for cam in self.config.cameras]
        threads = [threading.Thread(target=r.run, name=f"source-{r.cam.id}", daemon=True)
                   for r in runners]
        for t in threads:
            t.start()
        started = beat = time.monotonic()
        try:
            while not self.stop.is_set():
                batch = self._gather()
                if batch:
                    self._analyse(batch)
                elif not any(t.is_alive() for t in threads) and self.frames.empty():
                    break
                if time.monotonic() - beat >= self.config.heartbeat_s:
                    self._heartbeats()
                    beat = time.monotonic()
                if max_seconds is not None and time.monotonic() - started >= max_seconds:
                    break
        finally:
            self.stop.set()
            for t in threads:
                t.join(timeout=self.config.open_timeout_s + self.config.read_timeout_s + 1)
            self._heartbeats()
        self.stats.elapsed_s = time.monotonic() - started
        return self.stats

    def _gather(self) -> list[Frame]:
        try:
            batch = [self.frames.get(timeout=0.1)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.config.batch_wait_s
        while len(batch) < self.config.batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self.frames.get(timeout=max(remaining, 0.0)) if remaining > 0
                             else self.frames.get_nowait())
            except queue.Empty:
                break
        return batch

    def _analyse(self, batch: list[Frame]) -> None:
        for frame in batch:
            self.book.frame(frame.camera.id)
        self.stats.frames += len(batch)
        for d in self.analyser.analyse(batch):
            cam = self._cameras[d.source_id]
            if not self.throttle.allow(d, cam.min_interval_s):
                continue
            self.sink.publish_detection(d)
            self.book.detections(d.source_id, 1)
            self.stats.detections[d.kind.value] += 1
            DETECTIONS_PUBLISHED.labels(kind=d.kind.value).inc()

    def _heartbeats(self) -> None:
        for cam in self.config.cameras:
            self.sink.publish_health(self.book.heartbeat(cam))
