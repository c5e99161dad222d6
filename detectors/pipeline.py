"""The detector process: sources -> bounded frame queue -> batched analysis -> sink.

One thread per camera reads frames (`detectors.sources`); the pipeline thread gathers up to
`batch_size` frames (waiting at most `batch_wait_s`) across cameras, analyses them, applies the
per-camera publication throttle, and hands records to the sink (the Kafka publisher, or a
printer for `--once`). Live frames that arrive while the queue is full are dropped and counted
(`kuzet_detector_frames_dropped_total`), so capture never blocks. Every `heartbeat_s` each
camera gets a health record; a last one is sent when the run ends. The run ends when every
source has finished (files, folders) or `stop` is set: a source thread that ends queues an end
mark behind its last frame, so the pipeline stops as soon as the last one is read instead of
waiting out a queue timeout (and a partial last batch is not held for `batch_wait_s`).
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
        self.frames: queue.Queue[Frame | None] = queue.Queue(maxsize=config.frame_queue_size)
        self.book = HealthBook(config.node)
        self.throttle = Throttle()
        self.stats = RunStats()
        self.stop = threading.Event()
        self._cameras = {c.id: c for c in config.cameras}
        self._ended = 0
        """End marks read: sources whose every frame has been gathered."""

    def offer(self, frame: Frame | None, block: bool) -> None:
        """Called by source threads: block (files) or drop when full (live streams); None is
        a source's end mark (always offered blocking)."""
        while block and not self.stop.is_set():
            try:
                self.frames.put(frame, timeout=0.2)
            except queue.Full:
                continue
            return
        try:
            self.frames.put_nowait(frame)
        except queue.Full:
            if frame is not None:
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
        threads = [threading.Thread(target=self._source, args=(r,), name=f"source-{r.cam.id}",
                                    daemon=True) for r in runners]
        for t in threads:
            t.start()
        started = beat = time.monotonic()
        try:
            while not self.stop.is_set():
                batch = self._gather()
                if batch:
                    self._analyse(batch)
                elif self._ended >= len(runners) or (
                        not any(t.is_alive() for t in threads) and self.frames.empty()):
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

    def _source(self, runner: SourceRunner) -> None:
        """A source thread: the runner, then its end mark behind its last frame."""
        try:
            runner.run()
        finally:
            self.offer(None, block=True)

    def _gather(self) -> list[Frame]:
        """Up to `batch_size` frames: waits 0.1 s for the first, `batch_wait_s` for the rest;
        returns early once every source's end mark is read."""
        batch: list[Frame] = []
        deadline = time.monotonic() + 0.1
        while len(batch) < self.config.batch_size and self._ended < len(self.config.cameras):
            remaining = deadline - time.monotonic()
            try:
                item = (self.frames.get(timeout=remaining) if remaining > 0
                        else self.frames.get_nowait())
            except queue.Empty:
                break
            if item is None:
                self._ended += 1
                continue
            if not batch:
                deadline = time.monotonic() + self.config.batch_wait_s
            batch.append(item)
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
