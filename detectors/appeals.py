"""Citizens' appeals as a source: the city's appeal portal reports a dump, a broken light, a fight.

Each appeal becomes one `citizen_report` detection (`source_kind` citizen, confidence 1) with
its category, appeal id and text in `attributes`; the rules' `[appeal_categories]` decide which
incidents it joins (a reported dump and a detected dump at one site are one incident) and so
where it is routed. The text is personal data: the incident stores it sealed
(`AppealAttached.text`). An appeal::

    {"appeal_id": "A-2026-118734", "category": "illegal_dump", "text": "Dump behind house 12",
     "submitted_at": "2026-12-03T09:12:00+05:00", "site_id": "yard-3",
     "location": {"lat": 43.238, "lon": 76.945},
     "photo": {"uri": "https://portal/photos/118734.jpg", "sha256": "<64 hex>"}}

`appeal_id` and `category` are required; `submitted_at` defaults to the time of receipt.
The detection id derives from the appeal id, so an appeal sent twice is one piece of evidence.
Over HTTP (`POST /appeals/v1`, one appeal or a list) a bad appeal gets 422 with every problem;
from a file (`read_appeals`: JSON lines, or CSV with those column names and `lat`, `lon`,
`photo_uri`, `photo_sha256`) bad lines are reported and skipped.
"""

from __future__ import annotations

import csv
import hmac
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from detectors.errors import AppealInputError
from domain.detection import Detection, validate_detection_dict
from domain.errors import InvalidDetection
from domain.kinds import Kind, SourceKind
from domain.validation import unsound_values

__all__ = ["MAX_APPEAL_BYTES", "appeal_to_detection", "create_appeal_app", "read_appeals"]

MAX_APPEAL_BYTES = 256 * 1024
"""The largest HTTP body accepted (a list of appeals)."""
_NAMESPACE = uuid.UUID("a1f1b0f8-1c9e-4d0e-b5a7-6f3c2d9e8a41")
_KEYS = {"appeal_id", "category", "text", "submitted_at", "site_id", "location", "photo"}
_MODEL = {"name": "appeal-portal", "version": "1"}


def appeal_to_detection(payload: object, *, now: datetime) -> Detection:
    """Validate one appeal and turn it into a `citizen_report` detection."""
    if not isinstance(payload, dict):
        raise AppealInputError(("expected a JSON object",))
    unsound = unsound_values(payload, "appeal")
    if unsound:
        raise AppealInputError(tuple(str(e) for e in unsound))
    problems = [f"{k}: unknown field" for k in sorted(set(payload) - _KEYS)]
    appeal_id = payload.get("appeal_id")
    if not isinstance(appeal_id, str) or not 0 < len(appeal_id.strip()) <= 100:
        problems.append(f"appeal_id={appeal_id!r}: required, 1..100 characters")
    if problems:
        raise AppealInputError(tuple(problems))
    attributes = {"appeal_id": appeal_id, "category": payload.get("category")}
    if payload.get("text") is not None:
        attributes["text"] = payload["text"]
    rec: dict[str, Any] = {
        "detection_id": str(uuid.uuid5(_NAMESPACE, f"appeal:{appeal_id}")),
        "source_id": f"appeal-{appeal_id}", "source_kind": SourceKind.CITIZEN.value,
        "kind": Kind.CITIZEN_REPORT.value, "confidence": 1.0,
        "observed_at": payload.get("submitted_at", now.isoformat()),
        "attributes": attributes, "model": _MODEL,
    }
    for key in ("site_id", "location"):
        if key in payload:
            rec[key] = payload[key]
    if payload.get("photo") is not None:
        rec["snapshot"] = payload["photo"]
    try:
        return validate_detection_dict(rec)
    except InvalidDetection as exc:
        raise AppealInputError(tuple(
            f"{_appeal_field(e.field)}={e.value}: {e.reason}" for e in exc.errors)) from None


def _appeal_field(name: str) -> str:
    """A contract field's name as the appeal spells it (snapshot.sha256 → photo.sha256)."""
    head, dot, rest = name.partition(".")
    head = {"observed_at": "submitted_at", "snapshot": "photo", "source_id": "appeal_id"
            }.get(head, head)
    if head == "attributes":
        return rest
    return head + dot + rest


def _csv_appeal(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row (all text) as an appeal object: empty cells are absent."""
    appeal: dict[str, Any] = {k: v for k, v in row.items()
                              if k in _KEYS and v not in (None, "")}
    try:
        if row.get("lat") and row.get("lon"):
            appeal["location"] = {"lat": float(row["lat"]), "lon": float(row["lon"])}
    except ValueError:
        appeal["location"] = {"lat": row.get("lat"), "lon": row.get("lon")}
    if row.get("photo_uri"):
        appeal["photo"] = {"uri": row["photo_uri"]}
        if row.get("photo_sha256"):  # a photo without its digest is referenced only
            appeal["photo"]["sha256"] = row["photo_sha256"]
    return appeal


def read_appeals(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, appeal object or the undecodable text) for each appeal in a JSON-lines
    or CSV (`.csv`) file."""
    with path.open(encoding="utf-8", newline="") as f:
        if path.suffix.lower() == ".csv":
            for n, row in enumerate(csv.DictReader(f), start=2):
                yield n, _csv_appeal(row)
            return
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except ValueError:
                yield n, line.strip()[:80]


class _AsciiJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


def create_appeal_app(publish: Callable[[Detection], None], *, token: str | None = None,
                      clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Starlette:
    """`POST /appeals/v1` (one appeal or a list): 202 with detection ids, or 422 naming every
    problem of every refused appeal (then none of that request is published)."""

    async def appeals(request: Request) -> JSONResponse:
        if token and not hmac.compare_digest(request.headers.get("authorization", ""),
                                             f"Bearer {token}"):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        body = await request.body()
        if len(body) > MAX_APPEAL_BYTES:
            return JSONResponse({"error": f"body larger than {MAX_APPEAL_BYTES} bytes"}, 413)
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return _AsciiJSON({"errors": ["body is not JSON"]}, status_code=422)
        items = parsed if isinstance(parsed, list) else [parsed]
        accepted, refused = [], {}
        for i, item in enumerate(items):
            try:
                accepted.append(appeal_to_detection(item, now=clock()))
            except AppealInputError as exc:
                refused[str(i)] = list(exc.problems)
            except Exception as exc:  # this appeal's fault, whatever it is: never a 500
                refused[str(i)] = [f"appeal not handled: {type(exc).__name__}: {exc}"]
        if refused:
            return _AsciiJSON({"errors": refused}, status_code=422)
        for detection in accepted:
            publish(detection)
        return JSONResponse({"detection_ids": [d.detection_id for d in accepted]}, 202)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/appeals/v1", appeals, methods=["POST"]),
                             Route("/healthz", healthz)])
