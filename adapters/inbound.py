"""Agencies report back: `POST /agencies/{agency}/reports` becomes an `AgencyResponded` event.

The agency signs each request with its own Ed25519 key (same headers and message as our
deliveries, `adapters.signing`); we hold only its public key, so there is no shared secret to
leak on our side. The body is checked only after the signature verifies:

    {"report_id": "r-1", "incident_id": "<uuid>", "response": "accepted|declined|done",
     "reason": "required when declined", "person": "optional officer or unit id"}

Answers: 201 recorded; 200 duplicate (the same report id again: nothing new is written);
401 bad or missing signature, or a stale timestamp; 404 unknown agency or incident; 400 body
not JSON; 413 body too large; 422 invalid fields (each named) or a report the incident refuses
(not routed to that agency, report id reused with other content); 409 a write conflict that
persisted (retry). Every error is `{"error": code, "message": text}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.errors import InvalidReport, SignatureError
from adapters.signing import verify
from domain.errors import IncidentNotFound, InvalidCommand, VersionConflict
from domain.incident import AGENCY_RESPONSES

__all__ = ["InboundConfig", "Report", "ReportSink", "create_inbound_app", "parse_report"]

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


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


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
            return _error(404, "unknown_agency", f"no agency {agency!r} reports here")
        try:
            body = await _body(request, config.max_body_bytes)
            verify(key, body, request.headers, clock().timestamp(), config.max_skew_s)
            parsed = parse_report(json.loads(body))
        except _TooLarge:
            return _error(413, "too_large", f"body over {config.max_body_bytes} bytes")
        except SignatureError as exc:
            return _error(401, "bad_signature", str(exc))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, too deep
            return _error(400, "bad_json", f"body is not JSON: {exc}")
        except InvalidReport as exc:
            return _error(422, "invalid_report", str(exc), errors=exc.errors)
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
    status = "recorded" if recorded else "duplicate"
    return JSONResponse({"status": status, "report_id": report.report_id,
                         "incident_id": str(report.incident_id)},
                        status_code=201 if recorded else 200)
