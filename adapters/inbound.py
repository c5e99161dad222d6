"""Agencies report back: `POST /agencies/{agency}/reports` becomes an `AgencyResponded` event.

The agency signs each request with its own Ed25519 key (same headers and message as our
deliveries, `adapters.signing`); we hold only its public key, so there is no shared secret to
leak on our side. The body is checked only after the signature verifies:

    {"report_id": "r-1", "incident_id": "<uuid>", "response": "accepted|declined|done",
     "reason": "required when declined", "person": "optional officer or unit id"}

Answers: 201 recorded; 200 duplicate (the same report id again: nothing new is written);
401 bad or missing signature, or a stale timestamp; 404 unknown agency or incident; 400 body
not JSON; 413 body too large; 422 invalid fields (each named: also any string anywhere that is
not valid Unicode, a lone surrogate escape), a report the incident refuses (not routed to that
agency, report id reused with other content), or `unprocessable`: any other exception raised
while handling this one report (its type named; the report is at fault, the endpoint stays up);
409 a write conflict that persisted (retry); 503 the event store is unreachable (retry). Every
error is `{"error": code, "message": text}`, JSON with ASCII escapes. Every refusal is counted
in `kuzet_adapter_inbound_rejected{stage, reason}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.errors import InvalidReport, SignatureError
from adapters.signing import verify
from domain.errors import IncidentNotFound, InvalidCommand, VersionConflict
from domain.incident import AGENCY_RESPONSES
from domain.validation import unsound_values

__all__ = ["REJECTED", "InboundConfig", "Report", "ReportSink", "create_inbound_app",
           "parse_report"]

REJECTED = Counter(
    "kuzet_adapter_inbound_rejected",
    "Agency reports refused, by stage (signature, body, fields, record) and reason (the "
    "error code answered)", ["stage", "reason"],
)
_INFRASTRUCTURE_NAMES = frozenset({"OperationalError", "InterfaceError", "PoolTimeout",
                                   "ConnectionUnavailableError", "ConnectionError",
                                   "TimeoutError"})

_FIELDS = {"report_id", "incident_id", "response", "reason", "person"}


class ReportSink(Protocol):
    """Where reports go: `IncidentApp.record_agency_response` (True: recorded, False: seen)."""

    def record_agency_response(self, incident_id: UUID, *, agency: str, response: str,
                               reason: str | None, report_id: str, person: str | None,
                               at: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class Report:
    report_id: str
    incident_id: UUID
    response: str
    reason: str | None
    person: str | None


def _text(data: Mapping[str, Any], name: str, errors: dict[str, str], *, required: bool,
          limit: int) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            errors[name] = "required"
        return None
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        errors[name] = f"must be a string of 1..{limit} characters"
        return None
    return value


def parse_report(data: Any) -> Report:
    """A validated `Report`, or `InvalidReport` naming every bad field."""
    if not isinstance(data, dict):
        raise InvalidReport({"body": "must be a JSON object"})
    unsound = unsound_values(data, "body")
    if unsound:  # a lone surrogate anywhere cannot be stored, logged or echoed: name and stop
        raise InvalidReport({e.field: e.reason for e in unsound})
    errors = dict.fromkeys(sorted(set(data) - _FIELDS), "unknown field")
    report_id = _text(data, "report_id", errors, required=True, limit=200)
    raw_id = _text(data, "incident_id", errors, required=True, limit=36)
    response = _text(data, "response", errors, required=True, limit=20)
    reason = _text(data, "reason", errors, required=False, limit=2000)
    person = _text(data, "person", errors, required=False, limit=200)
    incident_id = None
    try:
        incident_id = UUID(raw_id) if raw_id else None
    except ValueError:
        errors["incident_id"] = "must be a UUID"
    if response is not None and response not in AGENCY_RESPONSES:
        errors["response"] = f"must be one of {', '.join(sorted(AGENCY_RESPONSES))}"
    if response == "declined" and reason is None and "reason" not in errors:
        errors["reason"] = "required when the response is declined"
    if errors or report_id is None or incident_id is None or response is None:
        raise InvalidReport(errors)
    return Report(report_id, incident_id, response, reason, person)


@dataclass(frozen=True)
class InboundConfig:
    agency_keys: Mapping[str, Ed25519PublicKey]
    """Agency name → the public key its reports are signed with (unlisted: 404)."""
    max_body_bytes: int = 16 * 1024
    max_skew_s: float = 300.0


class _AsciiJSON(JSONResponse):
    """JSON with ASCII escapes: an error that quotes a hostile string still encodes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


def _error(status: int, code: str, message: str, *, stage: str = "record",
           **extra: Any) -> JSONResponse:
    REJECTED.labels(stage=stage, reason=code).inc()
    return _AsciiJSON({"error": code, "message": message, **extra}, status_code=status)


def _unexpected(exc: Exception, stage: str) -> JSONResponse:
    """Any other exception while handling one report: its fault (422), unless the store is
    unreachable (503, retry). Named by type; the server never answers 500 for a body."""
    chain = [exc, exc.__cause__]
    if any(type(e).__name__ in _INFRASTRUCTURE_NAMES for e in chain if e is not None):
        return _error(503, "unavailable", f"the event store is unreachable: "
                                          f"{type(exc).__name__}; send the report again",
                      stage=stage)
    return _error(422, "unprocessable", f"this report could not be handled: "
                                        f"{type(exc).__name__}: {exc}", stage=stage,
                  error_type=type(exc).__name__)


class _TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return body


def create_inbound_app(config: InboundConfig, sink: ReportSink, *,
                       clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Starlette:
    """The report-back endpoint over `sink`; `clock` stamps recorded events."""

    async def report(request: Request) -> JSONResponse:
        agency = request.path_params["agency"]
        key = config.agency_keys.get(agency)
        if key is None:
            return _error(404, "unknown_agency", f"no agency {agency!r} reports here",
                          stage="agency")
        try:
            body = await _body(request, config.max_body_bytes)
            verify(key, body, request.headers, clock().timestamp(), config.max_skew_s)
            parsed = parse_report(json.loads(body))
        except _TooLarge:
            return _error(413, "too_large", f"body over {config.max_body_bytes} bytes",
                          stage="body")
        except SignatureError as exc:
            return _error(401, "bad_signature", str(exc), stage="signature")
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, too deep
            return _error(400, "bad_json", f"body is not JSON: {exc}", stage="body")
        except InvalidReport as exc:
            return _error(422, "invalid_report", str(exc), stage="fields", errors=exc.errors)
        except Exception as exc:
            return _unexpected(exc, "body")
        return await _record(sink, agency, parsed, clock())

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/agencies/{agency}/reports", report, methods=["POST"]),
                             Route("/healthz", healthz, methods=["GET"])])


async def _record(sink: ReportSink, agency: str, report: Report, at: datetime) -> JSONResponse:
    try:
        recorded = await run_in_threadpool(
            sink.record_agency_response, report.incident_id, agency=agency,
            response=report.response, reason=report.reason, report_id=report.report_id,
            person=report.person, at=at)
    except IncidentNotFound as exc:
        return _error(404, "unknown_incident", str(exc))
    except InvalidCommand as exc:
        return _error(422, "refused", str(exc))
    except VersionConflict as exc:
        return _error(409, "conflict", f"{exc}; send the report again")
    except Exception as exc:
        return _unexpected(exc, "record")
    status = "recorded" if recorded else "duplicate"
    return JSONResponse({"status": status, "report_id": report.report_id,
                         "incident_id": str(report.incident_id)},
                        status_code=201 if recorded else 200)
