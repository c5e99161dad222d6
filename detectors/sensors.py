"""Sensor ingress: fire-alarm panels and other IP devices POST signals over HTTP.

(The same signals may arrive over MQTT instead: `detectors.mqtt` validates them with
`signal_to_detection` too.)

`POST /sensors/v1/signals` with a JSON object::

    {"sensor_id": "panel-7", "signal": "fire_alarm", "observed_at": "2025-05-01T10:00:00+05:00",
     "site_id": "school-12", "location": {"lat": 43.2, "lon": 76.9}, "confidence": 1.0,
     "attributes": {"loop": 3}}

Only `sensor_id` and `signal` are required (`observed_at` defaults to the time of receipt,
`confidence` to 1). Signals map to kinds by `SIGNAL_KINDS`. Input is validated like any other
edge: a bad request gets 422 with every problem listed (a lone surrogate escape anywhere, a
non-finite number, a timestamp out of range included), never a crash: any other exception while
handling one signal is that signal's fault (422 naming its type, counted as `outcome="error"`);
an accepted one is
published as a `sensor` detection and answered 202 with its `detection_id`. When a bearer token
is configured, requests without it get 401.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from detectors.errors import SensorInputError
from detectors.metrics import SENSOR_SIGNALS
from domain.detection import Detection, validate_detection_dict
from domain.errors import InvalidDetection
from domain.kinds import Kind
from domain.validation import unsound_values

__all__ = ["MAX_SIGNAL_BYTES", "SIGNAL_KINDS", "create_sensor_app", "signal_to_detection"]

SIGNAL_KINDS: dict[str, Kind] = {
    "fire_alarm": Kind.FIRE_ALARM,
    "smoke_detector": Kind.SMOKE,
    "flame_detector": Kind.FIRE,
    "bin_level": Kind.GARBAGE_OVERFLOW,
    "panic_button": Kind.FIGHT,
}
_MODEL = {"name": "sensor-ingress", "version": "1"}
_KEYS = {"sensor_id", "signal", "observed_at", "site_id", "location", "confidence", "attributes"}
MAX_SIGNAL_BYTES = 16 * 1024
"""The largest signal body accepted (HTTP body or MQTT payload)."""


def signal_to_detection(payload: object, *, now: datetime) -> Detection:
    """Validate one sensor signal and turn it into a `sensor` detection."""
    if not isinstance(payload, dict):
        raise SensorInputError(("expected a JSON object",))
    unsound = unsound_values(payload, "signal")
    if unsound:  # nothing that no store, topic or log line can carry goes further
        raise SensorInputError(tuple(str(e) for e in unsound))
    problems = [f"{k}: unknown field" for k in sorted(set(payload) - _KEYS)]
    signal = payload.get("signal")
    kind = SIGNAL_KINDS.get(signal) if isinstance(signal, str) else None
    if kind is None:
        problems.append(f"signal={signal!r}: expected one of {', '.join(sorted(SIGNAL_KINDS))}")
    attributes = payload.get("attributes") or {}
    if not isinstance(attributes, dict):
        problems.append(f"attributes={attributes!r}: expected an object")
    if problems:
        raise SensorInputError(tuple(problems))
    rec: dict[str, Any] = {
        "detection_id": str(uuid.uuid4()), "source_id": payload.get("sensor_id"),
        "source_kind": "sensor", "kind": kind.value if kind else None,
        "confidence": payload.get("confidence", 1.0),
        "observed_at": payload.get("observed_at", now.isoformat()),
        "attributes": {**attributes, "signal": signal},
        "model": _MODEL,
    }
    for key in ("site_id", "location"):
        if key in payload:
            rec[key] = payload[key]
    try:
        return validate_detection_dict(rec)
    except InvalidDetection as exc:
        fields = {"source_id": "sensor_id"}
        raise SensorInputError(tuple(
            f"{fields.get(e.field, e.field)}={e.value}: {e.reason}" for e in exc.errors
        )) from None
    except TypeError:
        raise SensorInputError(("attributes: expected an object",)) from None


class _AsciiJSON(JSONResponse):
    """JSON with ASCII escapes: an answer that quotes a hostile string still encodes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


def create_sensor_app(publish: Callable[[Detection], None], *, token: str | None = None,
                      clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Starlette:
    """The Starlette app of the ingress; `publish` receives each accepted detection."""

    async def signals(request: Request) -> JSONResponse:
        if token and not hmac.compare_digest(request.headers.get("authorization", ""),
                                             f"Bearer {token}"):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        body = await request.body()
        if len(body) > MAX_SIGNAL_BYTES:
            SENSOR_SIGNALS.labels(transport="http", outcome="rejected").inc()
            return JSONResponse({"error": f"body larger than {MAX_SIGNAL_BYTES} bytes"}, 413)
        try:
            detection = signal_to_detection(json.loads(body), now=clock())
        except (ValueError, RecursionError):
            SENSOR_SIGNALS.labels(transport="http", outcome="rejected").inc()
            return _AsciiJSON({"errors": ["body is not JSON"]}, status_code=422)
        except SensorInputError as exc:
            SENSOR_SIGNALS.labels(transport="http", outcome="rejected").inc()
            return _AsciiJSON({"errors": list(exc.problems)}, status_code=422)
        except Exception as exc:  # this signal's fault, whatever it is: never a 500
            SENSOR_SIGNALS.labels(transport="http", outcome="error").inc()
            return _AsciiJSON({"errors": [f"signal not handled: {type(exc).__name__}: {exc}"],
                               "error_type": type(exc).__name__}, status_code=422)
        SENSOR_SIGNALS.labels(transport="http", outcome="accepted").inc()
        publish(detection)
        return JSONResponse({"detection_id": detection.detection_id}, status_code=202)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/sensors/v1/signals", signals, methods=["POST"]),
                             Route("/healthz", healthz)])

