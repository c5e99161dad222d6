"""Sensor ingress over MQTT: fire-alarm panels and IP devices that publish to a broker.

Where a deployment's sensors speak MQTT rather than HTTP, the detector process subscribes to
the configured topic filters (`[mqtt]` in the cameras file, or `kuzet detect --mqtt URL
--mqtt-topic FILTER`). Each message carries the same JSON object as the HTTP ingress and is
validated by the same `signal_to_detection`; the one addition is that a message without
`sensor_id` takes it from the topic level matched by the filter's first `+`
(`kuzet/sensors/panel-7/alarm` under `kuzet/sensors/+/alarm` is sensor `panel-7`), so devices
need not repeat their id.

An accepted signal is published as a `sensor` detection. A rejected one (not JSON, too large,
failing validation) is logged, counted (`kuzet_detector_sensor_signals{transport="mqtt",
outcome="rejected"}`) and dead-lettered on `kuzet.detections.dlq.v1` in the correlator's DLQ
shape (`reason`, `errors`, `source`, `stage` = `mqtt`, `error_type`, `original` as base64), so
nothing is lost and nothing crashes; any other exception while handling one message is that
message's fault and is dead-lettered the same way (`outcome="error"`). A lost broker
connection is retried with exponential backoff; with a `client_id` the
session is persistent, so QoS 1/2 messages published meanwhile are delivered on reconnect.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import aiomqtt

from detectors.config import MqttConfig
from detectors.errors import SensorInputError
from detectors.metrics import SENSOR_SIGNALS
from detectors.sensors import MAX_SIGNAL_BYTES, signal_to_detection
from domain.detection import Detection
from domain.topics import DETECTIONS_DLQ

__all__ = ["MqttIngress", "SignalSink", "rejection_record", "sensor_id_from_topic"]

log = logging.getLogger(__name__)


class SignalSink(Protocol):
    """Where the ingress sends records: `KafkaPublisher` has both methods."""

    def publish_detection(self, detection: Detection) -> None: ...

    def submit(self, topic: str, key: bytes, value: bytes) -> None: ...


def sensor_id_from_topic(filters: Sequence[str], topic: str) -> str | None:
    """The topic level under the first `+` of the first filter that matches `topic`."""
    for pattern in filters:
        if "+" not in pattern.split("/") or not aiomqtt.Topic(topic).matches(pattern):
            continue
        return topic.split("/")[pattern.split("/").index("+")] or None
    return None


def rejection_record(topic: str, payload: bytes, problems: Sequence[str], *,
                     error_type: str = "SensorInputError") -> bytes:
    """The DLQ value for a rejected message (the same keys the correlator's DLQ uses)."""
    return json.dumps({
        "reason": "invalid sensor signal: " + "; ".join(problems),
        "errors": [{"field": "<signal>", "value": "", "reason": p} for p in problems],
        "source": {"transport": "mqtt", "topic": topic},
        "stage": "mqtt",
        "error_type": error_type,
        "original": base64.b64encode(payload).decode(),
        "original_size": len(payload),
        "original_sha256": hashlib.sha256(payload).hexdigest(),
    }).encode()


@dataclass
class IngressStats:
    accepted: int = 0
    rejected: int = 0


class MqttIngress:
    """Subscribes on its own thread and event loop; `handle` does the per-message work."""

    def __init__(self, config: MqttConfig, sink: SignalSink, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 dlq_topic: str = DETECTIONS_DLQ, reconnect_max_s: float = 30.0) -> None:
        self.config, self.sink, self.clock = config, sink, clock
        self.dlq_topic, self.reconnect_max_s = dlq_topic, reconnect_max_s
        self.stats = IngressStats()
        self.ready = threading.Event()
        """Set while subscribed (tests and the CLI wait on it); cleared on connection loss."""
        self._lock = threading.Lock()  # orders `stop` against the thread creating its task
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="mqtt-ingress", daemon=True)

    # --- per message (pure but for the sink) ---------------------------------------------
    def handle(self, topic: str, payload: bytes) -> Detection | None:
        """Validate one message; publish it, or dead-letter it with every problem."""
        try:
            detection = self._parse(topic, payload)
        except Exception as exc:  # this message's fault, whatever it is
            problems = (exc.problems if isinstance(exc, SensorInputError)
                        else (f"{type(exc).__name__}: {exc}",))
            outcome = "rejected" if isinstance(exc, SensorInputError) else "error"
            self.stats.rejected += 1
            SENSOR_SIGNALS.labels(transport="mqtt", outcome=outcome).inc()
            log.warning("mqtt %r: %s: %s", topic, outcome, ascii("; ".join(problems)))
            key = (sensor_id_from_topic(self.config.topics, topic) or topic).encode(
                "utf-8", "backslashreplace")
            self.sink.submit(self.dlq_topic, key, rejection_record(
                topic, payload, problems, error_type=type(exc).__name__))
            return None
        self.stats.accepted += 1
        SENSOR_SIGNALS.labels(transport="mqtt", outcome="accepted").inc()
        self.sink.publish_detection(detection)
        return detection

    def _parse(self, topic: str, payload: bytes) -> Detection:
        if len(payload) > MAX_SIGNAL_BYTES:
            raise SensorInputError((f"payload larger than {MAX_SIGNAL_BYTES} bytes",))
        try:
            body = json.loads(payload)
        except (ValueError, RecursionError):
            raise SensorInputError(("payload is not JSON",)) from None
        if isinstance(body, dict) and "sensor_id" not in body:
            sensor = sensor_id_from_topic(self.config.topics, topic)
            body = body if sensor is None else {**body, "sensor_id": sensor}
        return signal_to_detection(body, now=self.clock())

    # --- connection (ingress thread) -----------------------------------------------------
    def start(self) -> MqttIngress:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Unsubscribe and end the thread (idempotent; fine before `start`)."""
        with self._lock:
            self._stopping = True
            if self._loop is not None and self._task is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()  # made here, so an ingress never started leaks none
        with self._lock:
            if self._stopping:
                loop.close()
                return
            self._loop, self._task = loop, loop.create_task(self._consume_forever())
        try:
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
        finally:
            loop.close()

    def _client(self) -> aiomqtt.Client:
        c = self.config
        return aiomqtt.Client(
            c.host, c.port, identifier=c.client_id, username=c.username, password=c.password,
            clean_session=c.client_id is None, timeout=10,
            tls_context=ssl.create_default_context() if c.tls else None,
        )

    async def _consume_forever(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with self._client() as client:
                    for pattern in self.config.topics:
                        await client.subscribe(pattern, qos=self.config.qos)
                    log.info("mqtt ingress: subscribed to %s on %s",
                             ", ".join(self.config.topics), self.config.url)
                    self.ready.set()
                    backoff = 0.5
                    async for message in client.messages:
                        self._on_message(message)
            except aiomqtt.MqttError as exc:
                self.ready.clear()
                log.warning("mqtt ingress: %s: %s; retrying in %.1fs", self.config.url, exc,
                            backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.reconnect_max_s)

    def _on_message(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        raw = payload if isinstance(payload, bytes | bytearray) else str(payload or "").encode()
        try:
            self.handle(message.topic.value, bytes(raw))
        except Exception:  # a sink failure must not end the subscription
            log.exception("mqtt ingress: could not hand on a message from %s", message.topic)
